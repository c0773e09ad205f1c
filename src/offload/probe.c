/* probe: a depot's room and rate from here (see probe.h). */
#include "offload/probe.h"

#include <stdio.h>
#include <string.h>

#include "core/evloop.h"
#include "offload/depotproto.h"
#include "offload/dpset.h"
#include "offload/plan.h"

void bl_probe_send(bl_dpconn *c)
{
    bl_dp_empty(bl_dpconn_out(c), BL_DP_STAT);
    bl_dp_probe(bl_dpconn_out(c), BL_PROBE_BYTES);
    bl_dpconn_flush(c);
}

double bl_probe_rate(uint64_t ms)
{
    return (double)BL_PROBE_BYTES * 1000.0 / (double)(ms ? ms : 1);
}

typedef struct probe {
    bl_loop *loop;
    bl_probe_result *res;
    uint64_t *sent_ms;
    bool *stat_done, *probe_done;
    size_t n, left;
} probe;

static void one_done(probe *p)
{
    if (--p->left == 0)
        bl_loop_stop(p->loop);
}

static void on_ready(bl_dpset *s, size_t i, void *arg)
{
    probe *p = arg;
    bl_probe_send(bl_dpset_conn(s, i));
    p->sent_ms[i] = bl_loop_now_ms(p->loop);
    bl_dpset_waiting(s, i, 2);
}

static void on_msg(bl_dpset *s, size_t i, const bl_dp_msg *m, void *arg)
{
    probe *p = arg;
    if (m->type == BL_DP_STATUS && !p->stat_done[i]) {
        p->stat_done[i] = true;
        p->res[i].free_bytes = m->free_bytes;
    } else if (m->type == BL_DP_PROBE_OK && !p->probe_done[i]) {
        p->probe_done[i] = true;
        p->res[i].rate = bl_probe_rate(bl_loop_now_ms(p->loop) - p->sent_ms[i]);
    } else {
        bl_dpset_drop(s, i, "unexpected message from the depot");
        return;
    }
    bl_dpset_waiting(s, i, !p->stat_done[i] + !p->probe_done[i]);
    if (p->stat_done[i] && p->probe_done[i]) {
        p->res[i].up = true;
        /* done with it: dropping it now keeps a slow depot's silence from
         * counting against the others (dpset's down callback runs, and is
         * told apart by res[i].up) */
        bl_dpset_drop(s, i, "probed");
    }
}

static void on_down(bl_dpset *s, size_t i, const char *why, void *arg)
{
    (void)s;
    probe *p = arg;
    if (!p->res[i].up)
        snprintf(p->res[i].why, sizeof p->res[i].why, "%s", why);
    one_done(p);
}

int bl_probe_depots(const char *const *names, size_t n, const bl_okey *key, unsigned timeout_ms,
                    bl_probe_result *res, bl_err *err)
{
    memset(res, 0, n * sizeof *res);
    if (n == 0)
        return 0;
    uint8_t id[BL_OFFLOAD_ID_LEN];   /* a fresh id: a probe stores nothing */
    uint64_t sent_ms[BL_PLAN_MAX_DEPOTS];
    bool stat_done[BL_PLAN_MAX_DEPOTS] = {0}, probe_done[BL_PLAN_MAX_DEPOTS] = {0};
    if (n > BL_PLAN_MAX_DEPOTS)
        return bl_fail(err, "at most %d depots can be probed at once", BL_PLAN_MAX_DEPOTS);
    if (bl_random(id, sizeof id, err) < 0)
        return -1;
    probe p = {.res = res, .sent_ms = sent_ms, .stat_done = stat_done, .probe_done = probe_done,
               .n = n, .left = n};
    if (!(p.loop = bl_loop_new(err)))
        return -1;
    static const bl_dpset_ops ops = {on_ready, on_msg, on_down};
    bl_dpset *set = bl_dpset_new(p.loop, names, n, BL_DP_ROLE_STORE, key, id, timeout_ms, &ops, &p, err);
    int rc = -1;
    if (!set)
        goto out;
    if (bl_loop_run(p.loop) < 0) {
        bl_fail(err, "event loop failed");
        goto out;
    }
    rc = 0;
out:
    bl_dpset_free(set);
    bl_loop_free(p.loop);
    return rc;
}
