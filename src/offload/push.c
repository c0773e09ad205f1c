/* push: the offload manager (see push.h). */
#include "offload/push.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "offload/dpset.h"
#include "offload/manifest.h"
#include "offload/plan.h"
#include "offload/probe.h"
#include "offload/rate.h"
#include "offload/rs.h"
#include "offload/stream.h"

#define WINDOW 4                 /* chunk copies in flight per depot */
#define REPLAN_MS 1000
#define CACHE_BYTES (64u << 20)  /* encoded stripes kept for sending */
#define MAX_BADSUM 3

enum cstate { C_PENDING, C_SENT, C_ACKED };

struct copy {
    int16_t depot;               /* where it was sent or acknowledged; -1 */
    uint8_t st;
};

struct dep {
    uint64_t cap;                /* bytes it may take in all (0: unknown yet) */
    bool stat_done, probe_done, full, down;
    uint64_t probe_ms;
    bl_rate rt;                  /* its rate: the probe's, then its own transfers' */
    unsigned inflight;
    uint64_t acked;              /* copies it holds */
    uint64_t busy_since;
    uint64_t given;              /* copies assigned since the last plan */
};

struct slot {
    int64_t stripe;              /* -1: empty */
    uint8_t *buf;                /* m * chunk */
    uint64_t used;
};

typedef struct push {
    const bl_push_opts *o;
    bl_loop *loop;
    bl_dpset *set;
    bl_rs *rs;
    bl_stream st;
    bl_manifest mf;
    struct copy *copies;         /* (stripe * m + j) * replicas + r */
    uint64_t ncopies, acked;
    bool *hashed;                /* per chunk: mf.chunks[].sha computed */
    struct dep *d;
    bl_plan_node *nodes;
    bl_plan plan;
    bool planned, sending;
    unsigned badsum;
    struct slot *cache;
    size_t ncache;
    uint64_t tick, start_ms;
    double t0;
    int failed;
    bl_err err;
    bl_push_result *res;
    bool warned_deadline;
} push;

static double now_epoch(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(push *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(push *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err.msg, sizeof p->err.msg, fmt, ap);
    va_end(ap);
    bl_loop_stop(p->loop);
}

/* ---- stripes ---- */

static uint8_t *stripe_data(push *p, uint64_t s)
{
    struct slot *victim = &p->cache[0];
    for (size_t i = 0; i < p->ncache; i++) {
        if (p->cache[i].stripe == (int64_t)s) {
            p->cache[i].used = ++p->tick;
            return p->cache[i].buf;
        }
        if (p->cache[i].used < victim->used)
            victim = &p->cache[i];
    }
    unsigned k = p->mf.k, m = p->mf.m;
    size_t cl = (size_t)p->mf.chunk;
    bl_err e;
    if (bl_stream_read(&p->st, s * k * p->mf.chunk, victim->buf, (size_t)k * cl, &e) < 0) {
        fail(p, "%s", e.msg);
        return NULL;
    }
    const uint8_t *data[BL_RS_MAX_M];
    uint8_t *par[BL_RS_MAX_M];
    for (unsigned j = 0; j < k; j++)
        data[j] = victim->buf + (size_t)j * cl;
    for (unsigned j = k; j < m; j++)
        par[j - k] = victim->buf + (size_t)j * cl;
    bl_rs_encode(p->rs, cl, data, par);
    for (unsigned j = 0; j < m; j++) {
        uint64_t idx = s * m + j;
        uint8_t sha[BL_SHA256_LEN];
        bl_sha256(victim->buf + (size_t)j * cl, cl, sha);
        if (!p->hashed[idx]) {
            memcpy(p->mf.chunks[idx].sha, sha, sizeof sha);
            p->hashed[idx] = true;
        } else if (memcmp(sha, p->mf.chunks[idx].sha, sizeof sha)) {
            fail(p, "the files changed during the offload (stripe %" PRIu64 " encodes differently now)", s);
            return NULL;
        }
    }
    victim->stripe = (int64_t)s;
    victim->used = ++p->tick;
    return victim->buf;
}

/* ---- planning ---- */

static void account_busy(push *p, size_t i)
{
    struct dep *d = &p->d[i];
    uint64_t now = bl_loop_now_ms(p->loop);
    if (d->inflight && d->busy_since)
        d->rt.busy_ms += now - d->busy_since;
    d->busy_since = d->inflight ? now : 0;
}

static void fill_nodes(push *p)
{
    for (size_t i = 0; i < p->o->ndepots; i++) {
        struct dep *d = &p->d[i];
        bl_plan_node *n = &p->nodes[i];
        n->name = bl_dpset_name(p->set, i);
        n->failed = d->down;
        n->landmark = false;
        n->rate = bl_rate_get(&d->rt, p->mf.chunk);
        /* full: it keeps what it has and takes nothing more */
        n->capacity = d->full ? (d->acked ? d->acked * p->mf.chunk : 1) : d->cap;
    }
}

static int replan(push *p, bool first)
{
    bl_plan_input in = {
        .size = p->mf.total, .k = p->mf.k, .m = p->mf.m, .replicas = p->mf.replicas,
        .chunk = p->mf.chunk, .depots = p->nodes, .n_depots = p->o->ndepots,
        .now = now_epoch(), .purge_deadline = p->o->purge, .delivery_deadline = p->o->deadline};
    fill_nodes(p);
    uint64_t *acked = calloc(p->o->ndepots, sizeof *acked);
    if (!acked) {
        fail(p, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < p->o->ndepots; i++)
        acked[i] = p->d[i].acked;
    bl_plan_progress pr = {.mode = BL_PLAN_STAGED, .acked = acked};
    bl_err e;
    int rc = first ? bl_plan_make(&in, &p->plan, &e) : bl_plan_replan(&in, &pr, &p->plan, &e);
    free(acked);
    if (rc < 0) {
        fail(p, "plan: %s", e.msg);
        return -1;
    }
    if (!first)
        p->res->replans++;
    for (size_t i = 0; i < p->o->ndepots; i++)
        p->d[i].given = p->d[i].inflight;   /* shares cover what is not acknowledged yet */
    bl_debug("offload: plan: %s, fan-out %zu: %s", bl_plan_mode_name(p->plan.mode), p->plan.n_shares,
             p->plan.why);
    bool met = p->plan.purge_met && p->plan.delivery_met;
    if (!met && !p->warned_deadline && p->plan.mode != BL_PLAN_NONE) {
        bl_warn("offload: the deadline cannot be met: projected release in %.0f s, deadline in %.0f s (%s)",
                p->plan.release - in.now, p->plan.deadline - in.now, p->plan.why);
        p->warned_deadline = true;
    } else if (met) {
        p->warned_deadline = false;
    }
    return 0;
}

/* ---- sending ---- */

static size_t live_depots(const push *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->o->ndepots; i++)
        n += !p->d[i].down && !p->d[i].full;
    return n;
}

/* Depot i has no room for another copy (what it said it had, or the
 * user's cap, less what it holds or is being sent). */
static bool no_room(const push *p, size_t i)
{
    const struct dep *d = &p->d[i];
    return d->cap && (d->acked + d->inflight + 1) * p->mf.chunk > d->cap;
}

/* Depot for copy c of chunk idx (stripe s), or -1; *blocked when a depot
 * would do but has no window left. */
static int choose(push *p, uint64_t s, uint64_t idx, bool *avoid, bool *blocked)
{
    size_t n = p->o->ndepots;
    unsigned m = p->mf.m, r = p->mf.replicas;
    uint64_t *given = malloc(n * sizeof *given);
    if (!given)
        return -1;
    for (size_t i = 0; i < n; i++)
        given[i] = p->d[i].given;
    int pick = -1;
    /* level 2: no depot holding a copy of the stripe; 1: none holding the
     * plan's per_depot copies of it; 0: none holding this chunk */
    unsigned *held = calloc(n, sizeof *held);
    if (!held) {
        free(given);
        return -1;
    }
    for (uint64_t c = s * m * r; c < (s + 1) * m * r; c++)
        if (p->copies[c].depot >= 0)
            held[p->copies[c].depot]++;
    unsigned per = p->plan.per_depot ? p->plan.per_depot : 1;
    /* level by level (spreading a stripe matters most): first by the plan's
     * quotas, then, quotas used up (resends, rounding), the least loaded.
     * When the plan lets a depot take every copy of a stripe (too few depots
     * for a lost one to cost at most M-K chunks: see plan.h), spreading buys
     * nothing and speed decides: the plan's shares alone, from level 0 (else
     * the slow depots would get a chunk of every stripe, and the release
     * would wait for them). */
    int top = per >= m * r ? 0 : 2;
    for (int level = top; level >= 0 && pick < 0 && !*blocked; level--) {
        for (int pass = 0; pass < 2 && pick < 0; pass++) {
            for (size_t i = 0; i < n; i++)
                avoid[i] = p->d[i].down || p->d[i].full || no_room(p, i) ||
                           (level == 2 && held[i]) || (level == 1 && held[i] >= per);
            for (uint64_t c = idx * r; c < (idx + 1) * r; c++)
                if (p->copies[c].depot >= 0)
                    avoid[p->copies[c].depot] = true;
            if (pass == 0) {
                bool *full_win = avoid + n;
                for (size_t i = 0; i < n; i++)
                    full_win[i] = avoid[i] || p->d[i].inflight >= WINDOW;
                pick = bl_plan_pick(&p->plan, given, full_win, n);
                if (pick < 0 && bl_plan_pick(&p->plan, given, avoid, n) >= 0) {
                    *blocked = true;   /* its depot is busy: wait for an acknowledgement */
                    break;
                }
                continue;
            }
            bool any = false;
            for (size_t i = 0; i < n; i++) {
                if (avoid[i])
                    continue;
                any = true;
                if (p->d[i].inflight >= WINDOW)
                    continue;
                if (pick < 0 || held[i] < held[pick] ||
                    (held[i] == held[pick] && p->d[i].acked + p->d[i].inflight <
                                                  p->d[pick].acked + p->d[pick].inflight))
                    pick = (int)i;
            }
            if (pick < 0 && any) {
                *blocked = true;   /* a depot may take it once it has room in its window */
                break;
            }
        }
    }
    free(held);
    free(given);
    return pick;
}

static void send_copy(push *p, uint64_t c, size_t i)
{
    unsigned m = p->mf.m, r = p->mf.replicas;
    uint64_t idx = c / r, s = idx / m;
    unsigned j = (unsigned)(idx % m);
    uint8_t *buf = stripe_data(p, s);
    if (!buf)
        return;
    bl_dpconn *conn = bl_dpset_conn(p->set, i);
    bl_dp_put(bl_dpconn_out(conn), BL_DP_PUT, (uint32_t)idx, p->mf.chunks[idx].sha,
              buf + (size_t)j * p->mf.chunk, (size_t)p->mf.chunk);
    bl_dpconn_flush(conn);
    p->copies[c].depot = (int16_t)i;
    p->copies[c].st = C_SENT;
    account_busy(p, i);
    p->d[i].inflight++;
    p->d[i].given++;
    if (!p->d[i].busy_since)
        p->d[i].busy_since = bl_loop_now_ms(p->loop);
    bl_dpset_waiting(p->set, i, p->d[i].inflight);
}

static void finish_ok(push *p)
{
    bl_push_result *res = p->res;
    res->release = now_epoch();
    res->seconds = res->release - p->t0;
    res->purge_met = !p->o->purge || res->release <= p->o->purge;
    res->deadline_met = !p->o->deadline || res->release <= p->o->deadline;
    bool *used = calloc(p->mf.ndepots, 1);
    if (!used) {
        fail(p, "out of memory");
        return;
    }
    res->survives_one = true;
    for (uint64_t s = 0; s < p->mf.nstripes; s++) {
        /* chunks of stripe s that remain if depot x is lost, for every x */
        for (size_t x = 0; x < p->mf.ndepots; x++) {
            unsigned left = 0;
            for (unsigned j = 0; j < p->mf.m; j++) {
                const bl_mf_chunk *ch = &p->mf.chunks[s * p->mf.m + j];
                for (unsigned a = 0; a < ch->nat; a++)
                    if (ch->at[a] != x) {
                        left++;
                        break;
                    }
            }
            if (left < p->mf.k)
                res->survives_one = false;
        }
    }
    for (uint64_t c = 0; c < p->mf.nstripes * p->mf.m; c++)
        for (unsigned a = 0; a < p->mf.chunks[c].nat; a++)
            used[p->mf.chunks[c].at[a]] = true;
    for (size_t i = 0; i < p->mf.ndepots; i++) {
        res->depots_used += used[i];
        res->depots_down += p->d[i].down;
    }
    free(used);
    bl_err e;
    if (bl_mf_save(p->o->manifest, &p->mf, p->o->key, &e) < 0) {
        fail(p, "%s", e.msg);
        return;
    }
    bl_loop_stop(p->loop);
}

static void pump(push *p)
{
    if (p->failed || !p->sending)
        return;
    if (p->acked == p->ncopies) {
        finish_ok(p);
        return;
    }
    size_t n = p->o->ndepots;
    bool *avoid = malloc(2 * n * sizeof *avoid);
    if (!avoid) {
        fail(p, "out of memory");
        return;
    }
    unsigned r = p->mf.replicas, m = p->mf.m;
    uint64_t inflight = 0, pending = 0, unplaceable = 0;
    for (size_t i = 0; i < n; i++)
        inflight += p->d[i].inflight;
    for (uint64_t c = 0; c < p->ncopies && !p->failed; c++) {
        if (p->copies[c].st != C_PENDING)
            continue;
        pending++;
        uint64_t idx = c / r;
        bool blocked = false;
        int i = choose(p, idx / m, idx, avoid, &blocked);
        if (i >= 0) {
            send_copy(p, c, (size_t)i);
            inflight++;
        } else if (!blocked) {
            unplaceable++;
        }
    }
    free(avoid);
    if (p->failed)
        return;
    if (unplaceable && inflight == 0) {
        size_t live = live_depots(p);
        if (live == 0)
            fail(p, "no depot can take chunks any more (%zu named, all down or full)", n);
        else
            fail(p, "too few depots: %zu can still take chunks, but each chunk needs %u copies on distinct depots (--replicas)",
                 live, r);
    }
}

static void start_sending(push *p)
{
    if (p->planned || p->failed)
        return;
    for (size_t i = 0; i < p->o->ndepots; i++) {
        struct dep *d = &p->d[i];
        if (bl_dpset_state(p->set, i) == BL_DPSET_CONNECTING ||
            (!d->down && (!d->stat_done || !d->probe_done)))
            return;   /* still learning about it */
    }
    size_t live = live_depots(p);
    if (live == 0) {
        /* one reason for all (a wrong key, say) is said once */
        const char *first = p->d[0].full ? "full" : bl_dpset_why(p->set, 0);
        bool same = true;
        for (size_t i = 1; i < p->o->ndepots; i++)
            same &= !strcmp(first, p->d[i].full ? "full" : bl_dpset_why(p->set, i));
        if (same && p->o->ndepots > 1) {
            fail(p, "no depot can take chunks: all %zu: %s", p->o->ndepots, first);
            return;
        }
        char why[400] = "";
        for (size_t i = 0; i < p->o->ndepots && strlen(why) < 300; i++)
            snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s: %s", i ? "; " : "",
                     bl_dpset_name(p->set, i), p->d[i].full ? "full" : bl_dpset_why(p->set, i));
        fail(p, "no depot can take chunks: %s", why);
        return;
    }
    if (live < p->mf.replicas) {
        fail(p, "too few depots: %zu can take chunks, --replicas %u needs %u distinct ones", live,
             p->mf.replicas, p->mf.replicas);
        return;
    }
    if (replan(p, true) < 0)
        return;
    if (p->plan.mode == BL_PLAN_NONE || p->plan.n_shares == 0) {
        fail(p, "no usable plan: %s", p->plan.why);
        return;
    }
    bl_info("offload: %" PRIu64 " bytes in %" PRIu64 " stripes of %u:%u x %u, %zu of %zu depots: %s",
            p->mf.total, p->mf.nstripes, p->mf.k, p->mf.m, p->mf.replicas, p->plan.n_shares,
            p->o->ndepots, p->plan.why);
    p->planned = p->sending = true;
    pump(p);
}

/* ---- depot events ---- */

static void requeue_of(push *p, size_t i, bool acked_too)
{
    for (uint64_t c = 0; c < p->ncopies; c++) {
        struct copy *cp = &p->copies[c];
        if (cp->depot != (int16_t)i || (cp->st == C_ACKED && !acked_too))
            continue;
        if (cp->st == C_ACKED) {
            p->acked--;
            bl_mf_chunk *ch = &p->mf.chunks[c / p->mf.replicas];
            for (unsigned a = 0; a < ch->nat; a++)
                if (ch->at[a] == i) {
                    ch->at[a] = ch->at[--ch->nat];
                    break;
                }
        }
        if (cp->st != C_PENDING) {
            cp->st = C_PENDING;
            cp->depot = -1;
        }
    }
}

static void on_ready(bl_dpset *s, size_t i, void *arg)
{
    push *p = arg;
    bl_probe_send(bl_dpset_conn(s, i));
    p->d[i].probe_ms = bl_loop_now_ms(p->loop);
    bl_dpset_waiting(s, i, 2);
}

static void on_ack(push *p, size_t i, uint32_t index)
{
    unsigned r = p->mf.replicas;
    if ((uint64_t)index >= p->mf.nstripes * p->mf.m) {
        bl_dpset_drop(p->set, i, "acknowledged a chunk that was never sent");
        return;
    }
    for (uint64_t c = (uint64_t)index * r; c < ((uint64_t)index + 1) * r; c++) {
        struct copy *cp = &p->copies[c];
        if (cp->depot != (int16_t)i || cp->st != C_SENT)
            continue;
        cp->st = C_ACKED;
        p->acked++;
        bl_mf_chunk *ch = &p->mf.chunks[index];
        ch->at[ch->nat++] = (uint16_t)i;
        account_busy(p, i);
        p->d[i].inflight--;
        p->d[i].acked++;
        bool own = bl_rate_acked(&p->d[i].rt, p->mf.chunk, p->mf.chunk);
        p->res->sent += p->mf.chunk;
        account_busy(p, i);
        bl_dpset_waiting(p->set, i, p->d[i].inflight);
        /* the first rate of its own transfers: the probe's (256 KiB, mostly
         * round trips and slow start) may be far off, and waiting for the
         * next tick would leave a short offload planned on it throughout */
        if (own && replan(p, false) < 0)
            return;
        pump(p);
        return;
    }
    bl_dpset_drop(p->set, i, "acknowledged a chunk that was never sent");
}

static void on_refuse(push *p, size_t i, const bl_dp_msg *m)
{
    char why[BL_DP_MAX_TEXT + 1];
    bl_log_safe(why, sizeof why, m->data, m->len);
    unsigned r = p->mf.replicas;
    uint64_t idx = m->index;
    if (idx >= p->mf.nstripes * p->mf.m) {
        bl_dpset_drop(p->set, i, "refused a chunk that was never sent");
        return;
    }
    for (uint64_t c = idx * r; c < (idx + 1) * r; c++)
        if (p->copies[c].depot == (int16_t)i && p->copies[c].st == C_SENT) {
            p->copies[c].st = C_PENDING;
            p->copies[c].depot = -1;
            account_busy(p, i);
            p->d[i].inflight--;
            bl_dpset_waiting(p->set, i, p->d[i].inflight);
            break;
        }
    if (m->code == BL_DP_FULL) {
        if (!p->d[i].full)
            bl_warn("offload: depot %s refused chunk %" PRIu32 ": %s; placing its share elsewhere",
                    bl_dpset_name(p->set, i), m->index, why);
        p->d[i].full = true;
        /* whatever else is in flight to it will be refused too and come back */
    } else if (m->code == BL_DP_BADSUM && ++p->badsum <= MAX_BADSUM) {
        bl_warn("offload: depot %s: %s; sending chunk %" PRIu32 " again", bl_dpset_name(p->set, i), why,
                m->index);
    } else {
        char msg[BL_DP_MAX_TEXT + 40];
        snprintf(msg, sizeof msg, "refused chunk %" PRIu32 ": %s", m->index, why);
        bl_dpset_drop(p->set, i, msg);
        return;
    }
    if (p->planned && replan(p, false) < 0)
        return;
    pump(p);
}

static void on_msg(bl_dpset *s, size_t i, const bl_dp_msg *m, void *arg)
{
    push *p = arg;
    struct dep *d = &p->d[i];
    switch (m->type) {
    case BL_DP_STATUS:
        if (!d->stat_done) {
            d->stat_done = true;
            /* room: what it says it has free, less what the user allowed */
            uint64_t room = m->free_bytes;
            d->cap = p->o->capacity[i] && p->o->capacity[i] < room ? p->o->capacity[i] : room;
            if (d->cap < p->mf.chunk) {
                bl_warn("offload: depot %s has no room (%" PRIu64 " bytes free); not using it",
                        bl_dpset_name(s, i), room);
                d->full = true;
            }
            bl_dpset_waiting(s, i, !d->probe_done);
            start_sending(p);
        }
        break;
    case BL_DP_PROBE_OK:
        if (!d->probe_done) {
            d->probe_done = true;
            uint64_t ms = bl_loop_now_ms(p->loop) - d->probe_ms;
            d->rt.probe = bl_probe_rate(ms);
            bl_debug("offload: depot %s: probe %.1f MB/s", bl_dpset_name(s, i), d->rt.probe / 1e6);
            bl_dpset_waiting(s, i, !d->stat_done);
            start_sending(p);
        }
        break;
    case BL_DP_ACK:
        on_ack(p, i, m->index);
        break;
    case BL_DP_REFUSE:
        on_refuse(p, i, m);
        break;
    default:
        bl_dpset_drop(s, i, "unexpected message from the depot");
    }
}

static void on_down(bl_dpset *s, size_t i, const char *why, void *arg)
{
    push *p = arg;
    struct dep *d = &p->d[i];
    d->down = true;
    bl_warn("offload: depot %s: %s%s", bl_dpset_name(s, i), why,
            d->acked ? "; sending what it held again elsewhere" : "");
    account_busy(p, i);
    d->inflight = 0;
    /* what it acknowledged may be gone with it: sent again elsewhere */
    requeue_of(p, i, true);
    d->acked = 0;
    if (p->planned) {
        if (replan(p, false) < 0)
            return;
        pump(p);
    } else {
        start_sending(p);
    }
}

static void on_tick(bl_loop *loop, void *arg)
{
    push *p = arg;
    for (size_t i = 0; i < p->o->ndepots; i++) {
        struct dep *d = &p->d[i];
        account_busy(p, i);
        bl_rate_tick(&d->rt);
    }
    if (p->planned && !p->failed && replan(p, false) == 0)
        pump(p);
    bl_loop_timer(loop, REPLAN_MS, on_tick, p);
}

/* ---- set-up ---- */

static int open_files(push *p, bl_err *err)
{
    const bl_push_opts *o = p->o;
    p->st.n = o->nfiles;
    p->st.fds = malloc(o->nfiles * sizeof *p->st.fds);
    p->st.len = calloc(o->nfiles, sizeof *p->st.len);
    p->mf.files = calloc(o->nfiles, sizeof *p->mf.files);
    if (!p->st.fds || !p->st.len || !p->mf.files)
        return bl_fail(err, "out of memory");
    for (size_t i = 0; i < o->nfiles; i++)
        p->st.fds[i] = -1;
    int rc = 0;
    for (size_t i = 0; i < o->nfiles && rc == 0; i++) {
        const char *path = o->files[i];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (fd < 0) {
            rc = bl_fail(err, "%s: %s", path, strerror(errno));
            break;
        }
        p->st.fds[i] = fd;
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            rc = bl_fail(err, "%s: not a regular file (offload takes files, not directories)", path);
            break;
        }
        char *copy = strdup(path);
        if (!copy) {
            rc = bl_fail(err, "out of memory");
            break;
        }
        const char *base = basename(copy);
        if (strlen(base) > BL_MF_MAX_NAME || !strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
            rc = bl_fail(err, "%s: a file name of at most %d bytes is needed", path, BL_MF_MAX_NAME);
            free(copy);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->mf.files[j].name, base)) {
                rc = bl_fail(err, "%s and %s have one name, %s: the manifest stores base names",
                             o->files[j], path, base);
                break;
            }
        if (rc == 0 && !(p->mf.files[i].name = strdup(base)))
            rc = bl_fail(err, "out of memory");
        free(copy);
        if (rc)
            break;
        p->mf.nfiles = i + 1;
        p->st.len[i] = (uint64_t)sb.st_size;
        p->mf.files[i].length = (uint64_t)sb.st_size;
        p->st.total += (uint64_t)sb.st_size;
    }
    p->mf.total = p->st.total;
    return rc;
}

int bl_push_run(const bl_push_opts *o, bl_push_result *res, bl_err *err)
{
    memset(res, 0, sizeof *res);
    if (o->nfiles == 0 || o->ndepots == 0)
        return bl_fail(err, "offload push needs at least one file and one depot");
    if (o->ndepots > BL_PLAN_MAX_DEPOTS)
        return bl_fail(err, "%zu depots: at most %d", o->ndepots, BL_PLAN_MAX_DEPOTS);
    if (o->chunk == 0 || o->chunk > BL_DP_MAX_CHUNK)
        return bl_fail(err, "chunk size %" PRIu64 ": 1 byte to %u MiB", o->chunk, BL_DP_MAX_CHUNK >> 20);
    if (o->replicas < 1 || o->replicas > BL_PLAN_MAX_REPLICAS || o->m * o->replicas > BL_MF_MAX_AT)
        return bl_fail(err, "--replicas %u: 1 to %d", o->replicas, BL_PLAN_MAX_REPLICAS);
    push *p = calloc(1, sizeof *p);
    if (!p)
        return bl_fail(err, "out of memory");
    p->o = o;
    p->res = res;
    int rc = -1;
    if (open_files(p, err) < 0)
        goto out;
    if (p->mf.total == 0) {
        bl_fail(err, "nothing to offload: the files are empty");
        goto out;
    }
    p->mf.k = o->k;
    p->mf.m = o->m;
    p->mf.replicas = o->replicas;
    p->mf.chunk = o->chunk;
    p->mf.deadline = (int64_t)o->deadline;
    p->mf.purge = (int64_t)o->purge;
    p->mf.nstripes = bl_mf_stripes(p->mf.total, o->k, o->chunk);
    if (p->mf.nstripes > BL_MF_MAX_STRIPES) {
        bl_fail(err, "%" PRIu64 " stripes: at most %u (use a larger --chunk)", p->mf.nstripes, BL_MF_MAX_STRIPES);
        goto out;
    }
    res->bytes = p->mf.total;
    if (!(p->rs = bl_rs_new(o->k, o->m, err)) || bl_random(p->mf.id, sizeof p->mf.id, err) < 0)
        goto out;
    bl_okey pull;
    bl_okey_pull(o->key, p->mf.id, &pull);
    memcpy(p->mf.pull_key, pull.bytes, BL_SHA256_LEN);
    memset(&pull, 0, sizeof pull);
    uint64_t nchunks = p->mf.nstripes * o->m;
    p->ncopies = nchunks * o->replicas;
    p->mf.ndepots = o->ndepots;
    p->mf.depots = calloc(o->ndepots, sizeof *p->mf.depots);
    p->mf.chunks = calloc(nchunks, sizeof *p->mf.chunks);
    p->copies = malloc(p->ncopies * sizeof *p->copies);
    p->hashed = calloc(nchunks, sizeof *p->hashed);
    p->d = calloc(o->ndepots, sizeof *p->d);
    p->nodes = calloc(o->ndepots, sizeof *p->nodes);
    size_t stripe_bytes = (size_t)o->m * (size_t)o->chunk;
    p->ncache = CACHE_BYTES / stripe_bytes < 2 ? 2 : CACHE_BYTES / stripe_bytes;
    if (p->ncache > p->mf.nstripes)
        p->ncache = (size_t)p->mf.nstripes;
    p->cache = calloc(p->ncache, sizeof *p->cache);
    if (!p->mf.depots || !p->mf.chunks || !p->copies || !p->hashed || !p->d || !p->nodes || !p->cache) {
        bl_fail(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < p->ncache; i++) {
        p->cache[i].stripe = -1;
        if (!(p->cache[i].buf = malloc(stripe_bytes))) {
            bl_fail(err, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < o->ndepots; i++)
        if (!(p->mf.depots[i] = strdup(o->depots[i]))) {
            bl_fail(err, "out of memory");
            goto out;
        }
    for (uint64_t c = 0; c < p->ncopies; c++)
        p->copies[c] = (struct copy){-1, C_PENDING};
    /* the files' SHA-256, which pull checks after decoding */
    for (size_t i = 0; i < p->mf.nfiles; i++)
        if (bl_sha256_fd(p->st.fds[i], p->st.len[i], p->mf.files[i].sha, err) < 0) {
            bl_fail_ctx(err, "%s", o->files[i]);
            goto out;
        }
    if (!(p->loop = bl_loop_new(err)))
        goto out;
    static const bl_dpset_ops ops = {on_ready, on_msg, on_down};
    p->t0 = now_epoch();
    if (!(p->set = bl_dpset_new(p->loop, o->depots, o->ndepots, BL_DP_ROLE_STORE, o->key, p->mf.id,
                                o->timeout_ms, &ops, p, err)))
        goto out;
    bl_loop_timer(p->loop, REPLAN_MS, on_tick, p);
    if (bl_loop_run(p->loop) < 0) {
        bl_fail(err, "event loop failed");
        goto out;
    }
    if (p->failed) {
        *err = p->err;
        goto out;
    }
    rc = 0;
out:
    bl_dpset_free(p->set);
    if (p->loop)
        bl_loop_free(p->loop);
    bl_rs_free(p->rs);
    for (size_t i = 0; i < p->st.n && p->st.fds; i++)
        if (p->st.fds[i] >= 0)
            close(p->st.fds[i]);
    free(p->st.fds);
    free(p->st.len);
    for (size_t i = 0; p->cache && i < p->ncache; i++)
        free(p->cache[i].buf);
    free(p->cache);
    free(p->copies);
    free(p->hashed);
    free(p->d);
    free(p->nodes);
    bl_mf_free(&p->mf);
    free(p);
    return rc;
}
