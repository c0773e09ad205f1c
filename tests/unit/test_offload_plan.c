/* Tests for the offload planner: given bandwidths, capacities and deadlines,
 * the expected decision, fan-out, shares and times; re-planning after
 * failures and slow-downs; placement of every copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "offload/plan.h"

#define MB 1e6
#define MiB (UINT64_C(1) << 20)
#define T0 1000000.0

static bl_plan_input base(uint64_t size, unsigned k, unsigned m, unsigned r,
                          const bl_plan_node *d, size_t n)
{
    return (bl_plan_input){.size = size, .k = k, .m = m, .replicas = r, .chunk = MiB,
                           .depots = d, .n_depots = n, .now = T0};
}

static uint64_t share_of(const bl_plan *p, size_t depot)
{
    for (size_t i = 0; i < p->n_shares; i++)
        if (p->share[i].depot == depot)
            return p->share[i].chunks;
    return 0;
}

static uint64_t share_sum(const bl_plan *p)
{
    uint64_t s = 0;
    for (size_t i = 0; i < p->n_shares; i++)
        s += p->share[i].chunks;
    return s;
}

/* The paper's Figure 5 proportions: direct 2.05, depots 45.7 12.6 13.5 11.1
 * (+ one at 8) Mbit/s.  Direct is 20x slower: staged, all five depots (RS
 * 4:5 wants each stripe on 5 distinct depots), one chunk of each stripe on
 * each, release when the slowest depot has its 16 chunks. */
static void test_paper_staged(void **state)
{
    bl_plan_node d[] = {{"a", 45.7 * MB / 8, 0, false, false},
                        {"b", 12.6 * MB / 8, 0, false, false},
                        {"c", 13.5 * MB / 8, 0, false, false},
                        {"d", 11.1 * MB / 8, 0, false, false},
                        {"e", 8.0 * MB / 8, 0, false, false}};
    bl_plan_input in = base(64 * MiB, 4, 5, 1, d, 5);
    in.has_direct = true;
    in.direct = (bl_plan_node){"dest", 2.05 * MB / 8, 0, false, false};
    bl_plan p;
    bl_err e;
    assert_int_equal(bl_plan_make(&in, &p, &e), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    assert_int_equal(p.stripes, 16);
    assert_int_equal(p.chunks_total, 80);
    assert_int_equal(p.n_shares, 5);
    assert_int_equal(p.per_depot, 1);
    assert_int_equal(p.spread, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(share_of(&p, i), 16);
    /* e (1 MB/s) sends 16 MiB last */
    assert_true(fabs(p.release - (T0 + 16.0 * MiB / (8.0 * MB / 8))) < 1e-6);
    assert_true(fabs(p.direct_release - (T0 + 64.0 * MiB / (2.05 * MB / 8))) < 1e-3);
    assert_true(p.release < p.direct_release);
    assert_true(p.purge_met && p.delivery_met);     /* no deadlines */
    assert_false(p.estimated);
    assert_string_equal(bl_plan_mode_name(p.mode), "staged");
}

/* Without the per-stripe cap (one replica, four depots: a lost depot is
 * fatal anyway) chunks go in proportion to rate. */
static void test_proportional_when_uncapped(void **state)
{
    bl_plan_node d[] = {{"a", 40 * MB, 0, false, false}, {"b", 20 * MB, 0, false, false},
                        {"c", 10 * MB, 0, false, false}, {"d", 10 * MB, 0, false, false}};
    bl_plan_input in = base(64 * MiB, 4, 5, 1, d, 4);
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    assert_int_equal(p.n_shares, 4);
    assert_int_equal(p.per_depot, 5);
    assert_int_equal(share_sum(&p), 80);
    assert_int_equal(share_of(&p, 0), 40);
    assert_int_equal(share_of(&p, 1), 20);
    assert_int_equal(share_of(&p, 2), 10);
    assert_int_equal(share_of(&p, 3), 10);
    /* everybody finishes together: 80 MiB at 80 MB/s */
    assert_true(fabs(p.release - (T0 + 80.0 * MiB / (80 * MB))) < 1e-6);
    assert_int_equal(p.share[0].depot, 0);  /* by decreasing rate */
}

/* Direct faster than staged and within the deadline: direct. */
static void test_direct_faster(void **state)
{
    bl_plan_node d[] = {{"a", 5 * MB, 0, false, false}, {"b", 5 * MB, 0, false, false},
                        {"c", 5 * MB, 0, false, false}, {"d", 5 * MB, 0, false, false},
                        {"e", 5 * MB, 0, false, false}};
    bl_plan_input in = base(100 * MiB, 4, 5, 1, d, 5);
    in.has_direct = true;
    in.direct.rate = 100 * MB;
    in.purge_deadline = T0 + 60;
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_DIRECT);
    assert_int_equal(p.n_shares, 0);
    assert_true(p.purge_met && p.delivery_met);
    assert_true(fabs(p.release - (T0 + 100.0 * MiB / (100 * MB))) < 1e-6);
    assert_true(p.staged_release > p.release);
    /* no deadline: still direct, it releases first */
    in.purge_deadline = 0;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_DIRECT);
    /* direct meets the deadline even though staged would be faster: direct
     * (it also delivers) */
    in.direct.rate = 20 * MB;
    for (size_t i = 0; i < 5; i++)
        ((bl_plan_node *)d)[i].rate = 50 * MB;
    in.delivery_deadline = T0 + 60;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_true(p.staged_release < p.direct_release);
    assert_int_equal(p.mode, BL_PLAN_DIRECT);
    /* and without a deadline the earlier release wins: staged */
    in.delivery_deadline = 0;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
}

/* Fan-out grows until the deadline is met: no coding, 1000 MiB, depots at
 * 10 MB/s, deadline 120 s needs 9 depots (8 would take 131 s). */
static void test_fanout_for_deadline(void **state)
{
    bl_plan_node d[12];
    for (size_t i = 0; i < 12; i++)
        d[i] = (bl_plan_node){"x", 1 * MB, 0, false, false};
    bl_plan_input in = base(1000 * MiB, 1, 1, 1, d, 12);
    in.purge_deadline = T0 + 120;
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    assert_int_equal(p.n_shares, 9);
    assert_true(p.release <= in.purge_deadline);
    assert_true(p.purge_met);
    /* a later deadline: fewer depots */
    in.purge_deadline = T0 + 1000;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 2);
    /* the delivery deadline counts too (the earlier one) */
    in.delivery_deadline = T0 + 120;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 9);
    assert_true(p.delivery_met && p.purge_met);
}

/* No depot set can meet the deadline: best effort with every depot, and
 * both deadlines reported missed; the direct alternative is slower. */
static void test_nothing_meets(void **state)
{
    bl_plan_node d[] = {{"a", 10 * MB, 0, false, false}, {"b", 10 * MB, 0, false, false},
                        {"c", 10 * MB, 0, false, false}};
    bl_plan_input in = base(1000 * MiB, 1, 1, 1, d, 3);
    in.has_direct = true;
    in.direct.rate = 5 * MB;
    in.purge_deadline = T0 + 10;
    in.delivery_deadline = T0 + 5000;
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    assert_int_equal(p.n_shares, 3);
    assert_false(p.purge_met);
    assert_true(p.delivery_met);
    assert_true(strstr(p.why, "nothing meets") != NULL);
    /* direct the faster: direct, still missing */
    in.direct.rate = 100 * MB;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_DIRECT);
    assert_false(p.purge_met);
}

/* Capacities: a full depot gets no more than it takes, the fan-out grows to
 * find room, and without room staged is impossible. */
static void test_capacity(void **state)
{
    bl_plan_node d[] = {{"big-fast", 100 * MB, 10 * MiB, false, false},
                        {"b", 10 * MB, 0, false, false},
                        {"c", 10 * MB, 0, false, false}};
    bl_plan_input in = base(100 * MiB, 1, 1, 1, d, 3);
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    assert_int_equal(share_of(&p, 0), 10);
    assert_int_equal(share_of(&p, 1) + share_of(&p, 2), 90);
    assert_int_equal(share_sum(&p), 100);
    /* the first depot is done after 10 MiB; the others carry 45 MiB each */
    assert_true(fabs(p.release - (T0 + 45.0 * MiB / (10 * MB))) < 1e-6);

    /* capacities too small in all: no staged plan; no direct: NONE */
    bl_plan_node s[] = {{"a", 10 * MB, 20 * MiB, false, false}, {"b", 10 * MB, 20 * MiB, false, false}};
    in = base(100 * MiB, 1, 1, 1, s, 2);
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_NONE);
    assert_true(p.staged_release == 0);
    assert_true(p.purge_met);           /* no deadline set */
    in.purge_deadline = T0 + 1e6;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_false(p.purge_met);          /* set, and nothing can meet it */
    /* a capacity smaller than one chunk makes a depot unusable */
    bl_plan_node t[] = {{"tiny", 100 * MB, 1000, false, false}, {"ok", 1 * MB, 0, false, false}};
    in = base(4 * MiB, 1, 1, 1, t, 2);
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 1);
    assert_int_equal(p.share[0].depot, 1);
}

/* The center's uplink caps the sum: no deadline, stop adding depots once it
 * is saturated; a deadline beyond what the uplink allows is missed. */
static void test_uplink_cap(void **state)
{
    bl_plan_node d[] = {{"a", 20 * MB, 0, false, false}, {"b", 20 * MB, 0, false, false},
                        {"c", 20 * MB, 0, false, false}};
    bl_plan_input in = base(100 * MiB, 1, 1, 1, d, 3);
    in.uplink = 30 * MB;
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 2);
    assert_true(fabs(p.release - (T0 + 100.0 * MiB / (30 * MB))) < 1e-6);
    assert_true(fabs(p.share[0].rate - 15 * MB) < 1);
    in.purge_deadline = T0 + 2;   /* would need 52 MB/s */
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_false(p.purge_met);
    assert_true(p.release >= T0 + 100.0 * MiB / (30 * MB) - 1e-6);
    /* direct capped too */
    in.has_direct = true;
    in.direct.rate = 1000 * MB;
    in.purge_deadline = 0;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_true(fabs(p.direct_release - (T0 + 100.0 * MiB / (30 * MB))) < 1e-6);
}

/* Landmarks come after every user depot, failed depots never. */
static void test_landmarks_and_failed(void **state)
{
    bl_plan_node d[] = {{"lm", 1000 * MB, 0, true, false}, {"dead", 1000 * MB, 0, false, true},
                        {"u1", 10 * MB, 0, false, false}, {"u2", 5 * MB, 0, false, false}};
    bl_plan_input in = base(100 * MiB, 1, 1, 1, d, 4);
    in.purge_deadline = T0 + 8;  /* u1 alone: 10.5 s; u1+u2: 7 s */
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 2);
    assert_int_equal(share_of(&p, 0), 0);
    assert_int_equal(share_of(&p, 1), 0);
    in.purge_deadline = T0 + 5;  /* needs the landmark */
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_true(share_of(&p, 0) > 0);
    assert_int_equal(share_of(&p, 1), 0);
    assert_true(p.purge_met);
}

/* Unknown rates: the slowest known one is assumed and the plan says so. */
static void test_unknown_rates(void **state)
{
    bl_plan_node d[] = {{"a", 0, 0, false, false}, {"b", 4 * MB, 0, false, false}};
    bl_plan_input in = base(8 * MiB, 1, 1, 1, d, 2);
    in.min_fanout = 2;
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_true(p.estimated);
    assert_int_equal(share_of(&p, 0), 4);
    assert_int_equal(share_of(&p, 1), 4);
    assert_int_equal(p.share[0].depot, 1);  /* the known one first */
    /* direct with no known rate is not an option */
    in.has_direct = true;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_true(p.direct_release == 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    /* nothing known at all and no depot: NONE */
    in.n_depots = 0;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_NONE);
    assert_true(strstr(p.why, "no usable depot") != NULL);
}

static void test_bad_input(void **state)
{
    bl_plan_node d[] = {{"a", 1 * MB, 0, false, false}};
    bl_plan p;
    bl_err e;
    bl_plan_input in = base(0, 4, 5, 1, d, 1);
    assert_int_equal(bl_plan_make(&in, &p, &e), -1);
    assert_true(strstr(e.msg, "size 0") != NULL);
    in = base(10, 5, 4, 1, d, 1);
    assert_int_equal(bl_plan_make(&in, &p, &e), -1);
    assert_true(strstr(e.msg, "5:4") != NULL);
    in = base(10, 4, 5, 0, d, 1);
    assert_int_equal(bl_plan_make(&in, &p, &e), -1);
    in = base(10, 4, 5, 1, d, BL_PLAN_MAX_DEPOTS + 1);
    assert_int_equal(bl_plan_make(&in, &p, &e), -1);
    in = base(UINT64_MAX, 1, 1, 1, d, 1);
    in.chunk = 1;
    assert_int_equal(bl_plan_make(&in, &p, &e), -1);
    assert_true(strstr(e.msg, "too many chunks") != NULL);
    in = base(10, 1, 1, 1, d, 1);
    in.chunk = 0;
    assert_int_equal(bl_plan_make(&in, &p, &e), -1);
    in = base(10, 1, 1, 1, d, 1);
    assert_int_equal(bl_plan_replan(&in, NULL, &p, &e), -1);
}

/* Re-plan: a depot that failed loses what it acknowledged, the rest stays
 * durable; the remaining chunks go to the living depots. */
static void test_replan_failure(void **state)
{
    bl_plan_node d[] = {{"a", 10 * MB, 0, false, false}, {"b", 10 * MB, 0, false, false},
                        {"c", 10 * MB, 0, false, false}, {"d", 10 * MB, 0, false, false},
                        {"e", 10 * MB, 0, false, false}, {"f", 10 * MB, 0, false, false}};
    bl_plan_input in = base(64 * MiB, 4, 5, 1, d, 6);
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_STAGED);
    assert_int_equal(p.chunks_total, 80);
    uint64_t acked[6] = {10, 10, 10, 10, 10, 0};
    d[1].failed = true;
    in.now = T0 + 5;
    bl_plan_progress pr = {BL_PLAN_STAGED, 0, acked};
    bl_plan q;
    assert_int_equal(bl_plan_replan(&in, &pr, &q, NULL), 0);
    assert_int_equal(q.mode, BL_PLAN_STAGED);
    assert_int_equal(q.chunks_left, 80 - 40);
    assert_int_equal(share_sum(&q), 40);
    assert_int_equal(share_of(&q, 1), 0);
    assert_true(q.release > in.now);
    /* everything acknowledged on living depots: released now */
    uint64_t all[6] = {16, 0, 16, 16, 16, 16};
    pr.acked = all;
    assert_int_equal(bl_plan_replan(&in, &pr, &q, NULL), 0);
    assert_int_equal(q.chunks_left, 0);
    assert_true(q.release == in.now);
    /* acknowledged chunks use up capacity */
    uint64_t some[6] = {0, 0, 0, 0, 0, 8};
    d[5].capacity = 8 * MiB;
    pr.acked = some;
    assert_int_equal(bl_plan_replan(&in, &pr, &q, NULL), 0);
    assert_int_equal(share_of(&q, 5), 0);
    assert_int_equal(share_sum(&q), 72);
}

/* Re-plan of a direct transfer whose destination slowed to a tenth (the
 * paper's §5.4): switch to staged to meet the deadline; when the
 * destination recovers, direct again, keeping what it has. */
static void test_replan_switch(void **state)
{
    bl_plan_node d[] = {{"n1", 8 * MB, 0, false, false}, {"n2", 8 * MB, 0, false, false},
                        {"n3", 8 * MB, 0, false, false}, {"n4", 8 * MB, 0, false, false}};
    bl_plan_input in = base(6000 * MiB, 4, 5, 1, d, 4);
    in.has_direct = true;
    in.direct.rate = 40 * MB;
    in.purge_deadline = T0 + 600;
    bl_plan p;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.mode, BL_PLAN_DIRECT);
    in.now = T0 + 10;
    in.direct.rate = 4 * MB;
    bl_plan_progress pr = {BL_PLAN_DIRECT, 400 * MB, NULL};
    bl_plan q;
    assert_int_equal(bl_plan_replan(&in, &pr, &q, NULL), 0);
    assert_int_equal(q.mode, BL_PLAN_STAGED);
    assert_true(q.purge_met);
    assert_int_equal(q.chunks_left, q.chunks_total);
    /* direct keeps its progress: 6000 MiB - 400 MB left at 4 MB/s */
    assert_true(fabs(q.direct_release - (in.now + (6000.0 * MiB - 400 * MB) / (4 * MB))) < 1e-6);
    assert_true(q.direct_release > in.purge_deadline);
    /* a depot slows too: still staged, later release */
    double before = q.staged_release;
    d[0].rate = 1 * MB;
    assert_int_equal(bl_plan_replan(&in, &pr, &q, NULL), 0);
    assert_true(q.staged_release > before);
}

static void check_place(const bl_plan_input *in, const bl_plan *p, uint16_t *pl)
{
    unsigned m = in->m, r = in->replicas;
    uint64_t count[BL_PLAN_MAX_DEPOTS] = {0};
    for (uint64_t s = 0; s < p->stripes; s++)
        for (unsigned c = 0; c < m; c++)
            for (unsigned a = 0; a < r; a++) {
                uint16_t x = pl[(s * m + c) * r + a];
                count[x]++;
                for (unsigned b = 0; b < a; b++)
                    assert_int_not_equal(x, pl[(s * m + c) * r + b]);
            }
    for (size_t i = 0; i < p->n_shares; i++)
        assert_int_equal(count[p->share[i].depot], p->share[i].chunks);
}

/* Each stripe decodable with every set of `t` failed depots out of n. */
static bool survives_all(const bl_plan_input *in, const bl_plan *p, const uint16_t *pl,
                         size_t n, unsigned t)
{
    for (uint32_t mask = 0; mask < (1u << n); mask++) {
        if ((unsigned)__builtin_popcount(mask) != t)
            continue;
        for (uint64_t s = 0; s < p->stripes; s++) {
            unsigned ok = 0;
            for (unsigned c = 0; c < in->m; c++) {
                bool alive = false;
                for (unsigned a = 0; a < in->replicas; a++)
                    alive |= !((mask >> pl[(s * in->m + c) * in->replicas + a]) & 1);
                ok += alive;
            }
            if (ok < in->k)
                return false;
        }
    }
    return true;
}

static void test_place(void **state)
{
    bl_plan_node d[20];
    for (size_t i = 0; i < 20; i++)
        d[i] = (bl_plan_node){"x", (double)(10 + i) * MB, 0, false, false};
    bl_plan p;
    uint16_t pl[16 * 5 * 2];
    bl_err e;
    /* 5 depots, RS 4:5: one depot lost at most */
    bl_plan_input in = base(64 * MiB, 4, 5, 1, d, 5);
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(bl_plan_place(&in, &p, pl, p.stripes * 5, &e), 0);
    check_place(&in, &p, pl);
    assert_true(survives_all(&in, &p, pl, 5, 1));
    assert_false(survives_all(&in, &p, pl, 5, 2));
    /* 5 depots, RS 4:5 x 2 replicas: any two lost */
    in = base(64 * MiB, 4, 5, 2, d, 5);
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.per_depot, 2);
    assert_int_equal(bl_plan_place(&in, &p, pl, p.stripes * 10, &e), 0);
    check_place(&in, &p, pl);
    assert_true(survives_all(&in, &p, pl, 5, 2));
    /* 20 depots, RS 4:5 x 2: each stripe on 10 distinct depots */
    in = base(64 * MiB, 4, 5, 2, d, 20);
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 20);   /* no deadline, no uplink cap: every depot */
    in.purge_deadline = T0 + 1e6;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 10);   /* a loose deadline: the minimum, M x R */
    in.purge_deadline = 0;
    assert_int_equal(bl_plan_make(&in, &p, NULL), 0);
    assert_int_equal(p.n_shares, 20);
    assert_int_equal(p.spread, 10);
    assert_int_equal(bl_plan_place(&in, &p, pl, p.stripes * 10, &e), 0);
    check_place(&in, &p, pl);
    for (uint64_t s = 0; s < p.stripes; s++) {
        uint32_t seen = 0;
        for (unsigned c = 0; c < 10; c++)
            seen |= 1u << pl[s * 10 + c];
        assert_int_equal(__builtin_popcount(seen), 10);
    }
    /* misuse */
    assert_int_equal(bl_plan_place(&in, &p, pl, 3, &e), -1);
    p.mode = BL_PLAN_DIRECT;
    assert_int_equal(bl_plan_place(&in, &p, pl, p.stripes * 10, &e), -1);
}

static void test_pick(void **state)
{
    bl_plan p = {.mode = BL_PLAN_STAGED, .n_shares = 3};
    p.share[0] = (bl_plan_share){2, 5, 30, 0};
    p.share[1] = (bl_plan_share){0, 5, 20, 0};
    p.share[2] = (bl_plan_share){1, 2, 10, 0};
    uint64_t given[3] = {0, 0, 0};
    bool avoid[3] = {false, false, false};
    assert_int_equal(bl_plan_pick(&p, given, NULL, 3), 2);   /* tie: faster */
    given[2] = 1;
    assert_int_equal(bl_plan_pick(&p, given, NULL, 3), 0);
    avoid[0] = true;
    assert_int_equal(bl_plan_pick(&p, given, avoid, 3), 2);
    given[2] = 5;
    given[1] = 2;
    assert_int_equal(bl_plan_pick(&p, given, avoid, 3), -1);
    assert_int_equal(bl_plan_pick(&p, given, NULL, 2), 0);   /* index 2 out of range */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_staged),
        cmocka_unit_test(test_proportional_when_uncapped),
        cmocka_unit_test(test_direct_faster),
        cmocka_unit_test(test_fanout_for_deadline),
        cmocka_unit_test(test_nothing_meets),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_uplink_cap),
        cmocka_unit_test(test_landmarks_and_failed),
        cmocka_unit_test(test_unknown_rates),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_replan_failure),
        cmocka_unit_test(test_replan_switch),
        cmocka_unit_test(test_place),
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
