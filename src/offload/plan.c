/* plan: see plan.h.  Shares are found by water-filling (chunks in
 * proportion to rate, within each depot's capacity and per-stripe cap), then
 * timed by a small event simulation in which a depot that finishes hands its
 * part of a capped uplink to the others. */
#include "offload/plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ASSUMED_RATE 1e6        /* bytes/s when no rate at all is known */

const char *bl_plan_mode_name(enum bl_plan_mode m)
{
    switch (m) {
    case BL_PLAN_DIRECT: return "direct";
    case BL_PLAN_STAGED: return "staged";
    default: return "none";
    }
}

/* A usable depot, in the order the fan-out grows. */
typedef struct cand {
    size_t idx;
    double rate;        /* measured or assumed */
    bool assumed;
    uint64_t cap;       /* chunk copies it can still take (UINT64_MAX: any) */
    uint64_t held;      /* chunk copies it has acknowledged already */
} cand;

static int check_input(const bl_plan_input *in, bl_err *err)
{
    if (!in->size)
        return bl_fail(err, "plan: nothing to offload (size 0)");
    if (!in->chunk)
        return bl_fail(err, "plan: chunk size 0");
    if (in->k < 1 || in->k > BL_PLAN_MAX_K || in->m < in->k || in->m > BL_PLAN_MAX_M)
        return bl_fail(err, "plan: coding %u:%u out of range (1 <= K <= %d, K <= M <= %d)",
                       in->k, in->m, BL_PLAN_MAX_K, BL_PLAN_MAX_M);
    if (in->replicas < 1 || in->replicas > BL_PLAN_MAX_REPLICAS)
        return bl_fail(err, "plan: replicas %u out of range (1..%d)", in->replicas,
                       BL_PLAN_MAX_REPLICAS);
    if (in->n_depots > BL_PLAN_MAX_DEPOTS)
        return bl_fail(err, "plan: %zu depots, at most %d", in->n_depots, BL_PLAN_MAX_DEPOTS);
    if (in->n_depots && !in->depots)
        return bl_fail(err, "plan: depot list missing");
    /* stripes x M x replicas must fit comfortably in 64 bits */
    uint64_t per = (uint64_t)in->k * in->chunk;
    if (in->chunk > (UINT64_C(1) << 40) || in->size / per > (UINT64_C(1) << 40))
        return bl_fail(err, "plan: %llu bytes in chunks of %llu is too many chunks",
                       (unsigned long long)in->size, (unsigned long long)in->chunk);
    return 0;
}

static double min_deadline(const bl_plan_input *in)
{
    double a = in->purge_deadline, b = in->delivery_deadline;
    if (a > 0 && b > 0)
        return a < b ? a : b;
    return a > 0 ? a : (b > 0 ? b : 0);
}

/* Usable depots ordered: user depots by decreasing rate, then landmarks.
 * Unknown rates get the slowest known one (so they sort last in their
 * group).  acked: chunk copies already on each depot (capacity used). */
static size_t candidates(const bl_plan_input *in, const uint64_t *acked, cand *c)
{
    double slowest = 0;
    for (size_t i = 0; i < in->n_depots; i++) {
        const bl_plan_node *d = &in->depots[i];
        if (!d->failed && d->rate > 0 && (slowest == 0 || d->rate < slowest))
            slowest = d->rate;
    }
    if (slowest == 0)
        slowest = ASSUMED_RATE;
    size_t n = 0;
    for (size_t i = 0; i < in->n_depots; i++) {
        const bl_plan_node *d = &in->depots[i];
        if (d->failed)
            continue;
        uint64_t cap = UINT64_MAX;
        uint64_t used = acked ? acked[i] : 0;
        if (d->capacity) {
            uint64_t whole = d->capacity / in->chunk;
            cap = whole > used ? whole - used : 0;
            if (!cap)
                continue;
        }
        c[n] = (cand){i, d->rate > 0 ? d->rate : slowest, d->rate <= 0, cap, used};
        n++;
    }
    /* insertion sort: n <= 64 */
    for (size_t i = 1; i < n; i++) {
        cand t = c[i];
        size_t j = i;
        while (j > 0) {
            const cand *p = &c[j - 1];
            bool pl = in->depots[p->idx].landmark, tl = in->depots[t.idx].landmark;
            bool before = (tl != pl) ? !tl
                          : (t.rate != p->rate) ? t.rate > p->rate
                          : (!t.assumed && p->assumed);
            if (!before)
                break;
            c[j] = c[j - 1];
            j--;
        }
        c[j] = t;
    }
    return n;
}

/* Water-fill `need` chunk copies over c[0..f) in proportion to rate within
 * each depot's cap (its capacity, and `qcap` copies in all from the
 * per-stripe limit).  false if they do not fit. */
static bool allocate(const cand *c, size_t f, uint64_t qcap, uint64_t need, uint64_t *out)
{
    uint64_t cap[BL_PLAN_MAX_DEPOTS];
    bool full[BL_PLAN_MAX_DEPOTS];
    uint64_t room = 0;
    for (size_t i = 0; i < f; i++) {
        /* what it already holds counts against the per-stripe limit */
        uint64_t q = qcap == UINT64_MAX ? UINT64_MAX : (qcap > c[i].held ? qcap - c[i].held : 0);
        cap[i] = c[i].cap < q ? c[i].cap : q;
        out[i] = 0;
        full[i] = false;
        room += cap[i] > need ? need : cap[i];
        if (room >= need)
            room = need;
    }
    if (room < need)
        return false;
    uint64_t left = need;
    /* proportional rounds: each round either places everything (within
     * rounding) or fills at least one depot, so at most f rounds */
    for (size_t round = 0; round <= f && left; round++) {
        double sum = 0;
        for (size_t i = 0; i < f; i++)
            if (!full[i])
                sum += c[i].rate;
        if (sum <= 0)
            break;
        uint64_t placed = 0;
        bool filled = false;
        for (size_t i = 0; i < f; i++) {
            if (full[i])
                continue;
            double want = floor((double)left * c[i].rate / sum);
            uint64_t w = want >= (double)(cap[i] - out[i]) ? cap[i] - out[i] : (uint64_t)want;
            out[i] += w;
            placed += w;
            if (out[i] == cap[i]) {
                full[i] = true;
                filled = true;
            }
        }
        left -= placed;
        if (!filled)
            break;          /* only the rounding remainder is left */
    }
    /* the remainder (< f chunks, or what rounding left): one at a time to
     * the depot that would finish it first */
    while (left) {
        size_t best = f;
        double bt = 0;
        for (size_t i = 0; i < f; i++) {
            if (out[i] >= cap[i])
                continue;
            double t = (double)(out[i] + 1) / c[i].rate;
            if (best == f || t < bt) {
                best = i;
                bt = t;
            }
        }
        if (best == f)
            return false;
        out[best]++;
        left--;
    }
    return true;
}

/* Finish time of each depot sending bytes[i] at rate[i], the sum capped
 * by uplink (scaled down together); returns the last finish. */
static double simulate(const double *rate, const double *bytes, size_t n, double uplink,
                       double now, double *finish)
{
    double left[BL_PLAN_MAX_DEPOTS];
    bool done[BL_PLAN_MAX_DEPOTS];
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        left[i] = bytes[i];
        done[i] = bytes[i] <= 0;
        finish[i] = now;
        active += !done[i];
    }
    double t = now;
    while (active) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            if (!done[i])
                sum += rate[i];
        double scale = (uplink > 0 && sum > uplink) ? uplink / sum : 1.0;
        double dt = -1;
        for (size_t i = 0; i < n; i++)
            if (!done[i]) {
                double d = left[i] / (rate[i] * scale);
                if (dt < 0 || d < dt)
                    dt = d;
            }
        t += dt;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            left[i] -= rate[i] * scale * dt;
            if (left[i] <= bytes[i] * 1e-12 + 1e-9) {
                done[i] = true;
                finish[i] = t;
                active--;
            }
        }
    }
    return t;
}

static unsigned per_stripe_cap(const bl_plan_input *in, size_t f)
{
    unsigned copies = in->m * in->replicas;
    unsigned q = (unsigned)((copies + f - 1) / f);
    if (in->replicas == 1 && q > in->m - in->k)
        q = in->m;  /* a lost depot is fatal anyway: let speed decide */
    return q;
}

/* Try fan-out f: fills shares and returns the release time, or -1. */
static double try_fanout(const bl_plan_input *in, const cand *c, size_t f, uint64_t stripes,
                         uint64_t need, unsigned extra, bl_plan *out)
{
    uint64_t n[BL_PLAN_MAX_DEPOTS];
    unsigned q = per_stripe_cap(in, f) + extra;
    if (q > in->m * in->replicas)
        q = in->m * in->replicas;
    uint64_t qcap = (q >= in->m * in->replicas) ? UINT64_MAX : stripes * q;
    if (!allocate(c, f, qcap, need, n))
        return -1;
    double rate[BL_PLAN_MAX_DEPOTS], bytes[BL_PLAN_MAX_DEPOTS], fin[BL_PLAN_MAX_DEPOTS];
    for (size_t i = 0; i < f; i++) {
        rate[i] = c[i].rate;
        bytes[i] = (double)n[i] * (double)in->chunk;
    }
    double rel = simulate(rate, bytes, f, in->uplink, in->now, fin);
    double sum = 0;
    for (size_t i = 0; i < f; i++)
        sum += c[i].rate;
    double scale = (in->uplink > 0 && sum > in->uplink) ? in->uplink / sum : 1.0;
    out->n_shares = 0;
    out->estimated = false;
    for (size_t i = 0; i < f; i++) {
        if (!n[i])
            continue;
        out->share[out->n_shares++] = (bl_plan_share){c[i].idx, n[i], c[i].rate * scale, fin[i]};
        out->estimated |= c[i].assumed;
    }
    unsigned copies = in->m * in->replicas;
    out->per_depot = q < copies ? q : copies;
    out->spread = (unsigned)(out->n_shares < copies ? out->n_shares : copies);
    return rel;
}

/* Choose the staged fan-out for `need` copies; release time or 0. */
static double plan_staged(const bl_plan_input *in, const uint64_t *acked, uint64_t stripes,
                          uint64_t need, double deadline, bl_plan *out)
{
    cand c[BL_PLAN_MAX_DEPOTS];
    size_t nc = candidates(in, acked, c);
    if (!nc)
        return 0;
    size_t fmin = in->min_fanout ? in->min_fanout : in->m * in->replicas;
    if (fmin > nc)
        fmin = nc;
    if (fmin < 1)
        fmin = 1;
    bl_plan best;
    memset(&best, 0, sizeof best);
    double best_rel = 0;
    /* capacities may leave no fan-out that fits under the per-stripe cap:
     * then the cap is raised as little as needed (per_depot says how many
     * copies of a stripe a depot may get), as storing the data beats
     * spreading it */
    for (unsigned extra = 0; extra < in->m * in->replicas && best_rel == 0; extra++) {
        for (size_t f = fmin; f <= nc; f++) {
            bl_plan tmp = *out;
            double rel = try_fanout(in, c, f, stripes, need, extra, &tmp);
            if (rel < 0)
                continue;
            if (best_rel == 0 || rel < best_rel - 1e-9) {
                best = tmp;
                best_rel = rel;
            }
            if (deadline > 0 && rel <= deadline)
                break;      /* the smallest fan-out that meets the deadline */
            if (deadline <= 0 && in->uplink > 0) {
                double sum = 0;
                for (size_t i = 0; i < f; i++)
                    sum += c[i].rate;
                if (sum >= in->uplink)
                    break;  /* the uplink is saturated */
            }
        }
    }
    if (best_rel == 0)
        return 0;
    /* copy the shares back; leave the caller's other fields alone */
    out->n_shares = best.n_shares;
    memcpy(out->share, best.share, sizeof out->share);
    out->estimated = best.estimated;
    out->per_depot = best.per_depot;
    out->spread = best.spread;
    return best_rel;
}

static double plan_direct(const bl_plan_input *in, uint64_t bytes)
{
    if (!in->has_direct || in->direct.failed || in->direct.rate <= 0)
        return 0;
    double r = in->direct.rate;
    if (in->uplink > 0 && r > in->uplink)
        r = in->uplink;
    return in->now + (double)bytes / r;
}

static void decide(const bl_plan_input *in, enum bl_plan_mode current, bl_plan *p)
{
    double dl = p->deadline;
    double d = p->direct_release, s = p->staged_release;
    bool dok = d > 0 && (dl <= 0 || d <= dl);
    bool sok = s > 0 && (dl <= 0 || s <= dl);
    const char *why;
    if (d <= 0 && s <= 0) {
        p->mode = BL_PLAN_NONE;
        why = in->has_direct ? "no usable depot and no known rate to the destination"
                             : "no usable depot and no destination";
    } else if (dl > 0 && dok) {
        /* direct delivers as well: preferred whenever it meets the deadline
         * (the paper's §5.3.2), unless staged is already under way and
         * also meets it */
        if (current == BL_PLAN_STAGED && sok) {
            p->mode = BL_PLAN_STAGED;
            why = "staged offload under way meets the deadline";
        } else {
            p->mode = BL_PLAN_DIRECT;
            why = "direct transfer meets the deadline";
        }
    } else if (dl > 0 && sok) {
        p->mode = BL_PLAN_STAGED;
        why = d > 0 ? "direct transfer would miss the deadline; staged offload meets it"
                    : "staged offload meets the deadline (no rate to the destination)";
    } else if (s <= 0 || (d > 0 && d <= s)) {
        p->mode = BL_PLAN_DIRECT;
        why = dl > 0 ? "nothing meets the deadline; direct is the fastest" : "direct releases the center first";
    } else {
        p->mode = BL_PLAN_STAGED;
        why = dl > 0 ? "nothing meets the deadline; staged is the fastest" : "staged releases the center first";
    }
    snprintf(p->why, sizeof p->why, "%s", why);
    p->release = p->mode == BL_PLAN_DIRECT ? d : p->mode == BL_PLAN_STAGED ? s : 0;
    p->delivery = p->release;
    p->purge_met = in->purge_deadline <= 0 || (p->release > 0 && p->release <= in->purge_deadline);
    p->delivery_met = in->delivery_deadline <= 0 ||
                      (p->delivery > 0 && p->delivery <= in->delivery_deadline);
    if (p->mode != BL_PLAN_STAGED)
        p->n_shares = 0;
}

static void plan_common(const bl_plan_input *in, const bl_plan_progress *pr, bl_plan *p)
{
    uint64_t per = (uint64_t)in->k * in->chunk;
    p->stripes = (in->size + per - 1) / per;
    p->chunks_total = p->stripes * in->m * in->replicas;
    p->deadline = min_deadline(in);

    uint64_t durable = 0;
    if (pr && pr->mode == BL_PLAN_STAGED && pr->acked)
        for (size_t i = 0; i < in->n_depots; i++)
            if (!in->depots[i].failed)
                durable += pr->acked[i];
    if (durable > p->chunks_total)
        durable = p->chunks_total;
    uint64_t staged_need = p->chunks_total - durable;
    uint64_t direct_done = (pr && pr->mode == BL_PLAN_DIRECT) ? pr->direct_acked : 0;
    if (direct_done > in->size)
        direct_done = in->size;
    uint64_t direct_need = in->size - direct_done;

    p->direct_release = direct_need ? plan_direct(in, direct_need) : in->now;
    if (staged_need)
        p->staged_release = plan_staged(in, pr && pr->mode == BL_PLAN_STAGED ? pr->acked : NULL,
                                        p->stripes, staged_need, p->deadline, p);
    else
        p->staged_release = in->now;
    decide(in, pr ? pr->mode : BL_PLAN_NONE, p);
    p->chunks_left = p->mode == BL_PLAN_STAGED ? staged_need : 0;
    p->bytes_left = p->mode == BL_PLAN_STAGED ? staged_need * in->chunk
                    : p->mode == BL_PLAN_DIRECT ? direct_need : 0;
}

int bl_plan_make(const bl_plan_input *in, bl_plan *out, bl_err *err)
{
    if (check_input(in, err) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    plan_common(in, NULL, out);
    return 0;
}

int bl_plan_replan(const bl_plan_input *in, const bl_plan_progress *pr, bl_plan *out,
                   bl_err *err)
{
    if (check_input(in, err) < 0)
        return -1;
    if (!pr)
        return bl_fail(err, "replan: no progress given");
    memset(out, 0, sizeof *out);
    plan_common(in, pr, out);
    return 0;
}

int bl_plan_pick(const bl_plan *p, const uint64_t *given, const bool *avoid, size_t n_depots)
{
    int best = -1;
    int64_t bq = 0;
    double br = 0;
    for (size_t i = 0; i < p->n_shares; i++) {
        const bl_plan_share *s = &p->share[i];
        if (s->depot >= n_depots || (avoid && avoid[s->depot]))
            continue;
        uint64_t g = given ? given[s->depot] : 0;
        if (g >= s->chunks)
            continue;
        int64_t q = (int64_t)(s->chunks - g);
        if (best < 0 || q > bq || (q == bq && s->rate > br)) {
            best = (int)s->depot;
            bq = q;
            br = s->rate;
        }
    }
    return best;
}

/* Over-quota fallback for bl_plan_place: the least over-full share. */
static int pick_any(const bl_plan *p, const uint64_t *given, const bool *avoid)
{
    int best = -1;
    double bl = 0;
    for (size_t i = 0; i < p->n_shares; i++) {
        const bl_plan_share *s = &p->share[i];
        if (avoid[s->depot])
            continue;
        double load = (double)given[s->depot] / (double)(s->chunks ? s->chunks : 1);
        if (best < 0 || load < bl) {
            best = (int)s->depot;
            bl = load;
        }
    }
    return best;
}

/* One stripe being placed.  Copies are visited copy-major (first copies of
 * every chunk, then second ones) so a stripe spreads before any depot
 * doubles up. */
typedef struct stripe_ctx {
    const bl_plan *p;
    unsigned m, r;
    size_t nd;
    uint64_t *given;                        /* per depot, all stripes */
    unsigned in_stripe[BL_PLAN_MAX_DEPOTS];
    uint64_t tuple[BL_PLAN_MAX_M];          /* depots holding chunk c, bit set */
    uint16_t at[BL_PLAN_MAX_M * BL_PLAN_MAX_REPLICAS];
    unsigned budget;                        /* search steps left */
} stripe_ctx;

/* May chunk c's copy `rep` go to depot d?  strict adds the soft rules: the
 * per-stripe limit, the quota, and (for the last copy) no two chunks of the
 * stripe on the same set of depots, which is what lets R copies survive R
 * lost depots costing at most one chunk. */
static bool allowed(const stripe_ctx *x, unsigned c, unsigned rep, size_t d, int strict)
{
    if ((x->tuple[c] >> d) & 1)
        return false;
    if (strict >= 1 && x->in_stripe[d] >= x->p->per_depot)
        return false;
    if (strict >= 2) {
        uint64_t quota = 0;
        for (size_t i = 0; i < x->p->n_shares; i++)
            if (x->p->share[i].depot == d)
                quota = x->p->share[i].chunks;
        if (x->given[d] >= quota)
            return false;
        if (rep == x->r - 1 && x->r > 1) {
            uint64_t t = x->tuple[c] | (UINT64_C(1) << d);
            for (unsigned o = 0; o < x->m; o++)
                if (o != c && x->tuple[o] == t)
                    return false;
        }
    }
    return true;
}

static void put(stripe_ctx *x, unsigned c, unsigned rep, size_t d, int sign)
{
    if (sign > 0) {
        x->given[d]++;
        x->in_stripe[d]++;
        x->tuple[c] |= UINT64_C(1) << d;
        x->at[c * x->r + rep] = (uint16_t)d;
    } else {
        x->given[d]--;
        x->in_stripe[d]--;
        x->tuple[c] &= ~(UINT64_C(1) << d);
    }
}

/* Depth-first search for a placement obeying every rule, candidates by
 * largest remaining quota; gives up when the step budget runs out. */
static bool search(stripe_ctx *x, unsigned pos)
{
    if (pos == x->m * x->r)
        return true;
    if (!x->budget)
        return false;
    x->budget--;
    unsigned rep = pos / x->m, c = pos % x->m;
    bool tried[BL_PLAN_MAX_DEPOTS] = {false};
    for (;;) {
        bool avoid[BL_PLAN_MAX_DEPOTS];
        for (size_t i = 0; i < x->nd; i++)
            avoid[i] = tried[i] || !allowed(x, c, rep, i, 2);
        int d = bl_plan_pick(x->p, x->given, avoid, x->nd);
        if (d < 0)
            return false;
        tried[d] = true;
        put(x, c, rep, (size_t)d, 1);
        if (search(x, pos + 1))
            return true;
        put(x, c, rep, (size_t)d, -1);
        if (!x->budget)
            return false;
    }
}

/* When the search fails (quotas and rules conflict): greedy, dropping the
 * soft rules one at a time, over quota as a last resort. */
static int greedy(stripe_ctx *x)
{
    for (unsigned pos = 0; pos < x->m * x->r; pos++) {
        unsigned rep = pos / x->m, c = pos % x->m;
        bool avoid[BL_PLAN_MAX_DEPOTS];
        int d = -1;
        for (int strict = 2; strict >= 0 && d < 0; strict--) {
            for (size_t i = 0; i < x->nd; i++)
                avoid[i] = !allowed(x, c, rep, i, strict);
            d = bl_plan_pick(x->p, x->given, avoid, x->nd);
        }
        if (d < 0) {
            for (size_t i = 0; i < x->nd; i++)
                avoid[i] = !allowed(x, c, rep, i, 0);
            d = pick_any(x->p, x->given, avoid);
        }
        if (d < 0)
            return -1;
        put(x, c, rep, (size_t)d, 1);
    }
    return 0;
}

int bl_plan_place(const bl_plan_input *in, const bl_plan *p, uint16_t *out, size_t n_out,
                  bl_err *err)
{
    unsigned m = in->m, r = in->replicas;
    if (p->mode != BL_PLAN_STAGED)
        return bl_fail(err, "place: the plan is not a staged offload");
    if (n_out != p->stripes * m * r)
        return bl_fail(err, "place: %zu slots for %llu chunk copies", n_out,
                       (unsigned long long)(p->stripes * m * r));
    if (p->n_shares < r)
        return bl_fail(err, "place: %zu depots cannot hold %u distinct replicas", p->n_shares, r);
    uint64_t given[BL_PLAN_MAX_DEPOTS] = {0};
    stripe_ctx x;
    for (uint64_t s = 0; s < p->stripes; s++) {
        memset(&x, 0, sizeof x);
        x.p = p;
        x.m = m;
        x.r = r;
        x.nd = in->n_depots;
        x.given = given;
        x.budget = 4096;
        if (!search(&x, 0)) {
            /* search undid its partial placement: given is as before */
            memset(x.in_stripe, 0, sizeof x.in_stripe);
            memset(x.tuple, 0, sizeof x.tuple);
            if (greedy(&x) < 0)
                return bl_fail(err, "place: no depot left for stripe %llu",
                               (unsigned long long)s);
        }
        memcpy(out + s * m * r, x.at, (size_t)m * r * sizeof *out);
    }
    return 0;
}
