/* forward: see forward.h. */
#include "offload/forward.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/evloop.h"
#include "offload/depotproto.h"
#include "offload/dpset.h"

enum { FROM = 0, TO = 1 };

typedef struct fwd {
    bl_loop *loop;
    const char *to;
    bool told, forwarded, asked, done, failed;
    bl_err err;
    bl_forward_report *rep;
    uint32_t *held;     /* TO's STATUS list */
    uint32_t nheld;
} fwd;

static void finish(fwd *f) { bl_loop_stop(f->loop); }

static void fail(fwd *f, const char *depot, const char *why)
{
    if (f->failed || f->done)
        return;
    f->failed = true;
    bl_fail(&f->err, "depot %s: %s", depot, why);
    finish(f);
}

/* Ask TO what it holds, once the source has finished and TO is ready. */
static void ask_to(bl_dpset *s, fwd *f)
{
    if (f->asked || !f->forwarded || bl_dpset_state(s, TO) != BL_DPSET_READY)
        return;
    f->asked = true;
    bl_dpconn *c = bl_dpset_conn(s, TO);
    bl_dp_empty(bl_dpconn_out(c), BL_DP_STAT);
    bl_dpconn_flush(c);
    bl_dpset_waiting(s, TO, 1);
}

static void on_ready(bl_dpset *s, size_t i, void *arg)
{
    fwd *f = arg;
    if (i == FROM && !f->told) {
        f->told = true;
        bl_dpconn *c = bl_dpset_conn(s, FROM);
        bl_dp_text(bl_dpconn_out(c), BL_DP_FORWARD, f->to);
        bl_dpconn_flush(c);
        bl_dpset_waiting(s, FROM, 1);
    }
    ask_to(s, f);
}

static void on_msg(bl_dpset *s, size_t i, const bl_dp_msg *m, void *arg)
{
    fwd *f = arg;
    char why[600];
    if (m->type == BL_DP_ERROR || m->type == BL_DP_MISSING) {
        snprintf(why, sizeof why, "%.*s", (int)(m->len < 500 ? m->len : 500), (const char *)m->data);
        fail(f, bl_dpset_name(s, i), why);
        return;
    }
    if (i == FROM && m->type == BL_DP_FORWARD_OK && !f->forwarded) {
        f->forwarded = true;
        f->rep->forwarded = m->index;
        bl_dpset_waiting(s, FROM, 0);
        ask_to(s, f);
    } else if (i == TO && m->type == BL_DP_STATUS && f->asked && !f->done) {
        bl_dpset_waiting(s, TO, 0);
        f->rep->held_at_to = m->n;
        f->held = malloc((m->n ? m->n : 1) * sizeof *f->held);
        if (!f->held) {
            fail(f, bl_dpset_name(s, i), "out of memory");
            return;
        }
        for (uint32_t k = 0; k < m->n; k++)
            f->held[k] = bl_dp_list_at(m, k);
        f->nheld = m->n;
        f->done = true;
        finish(f);
    } else {
        fail(f, bl_dpset_name(s, i), "unexpected answer");
    }
}

static void on_down(bl_dpset *s, size_t i, const char *why, void *arg)
{
    fwd *f = arg;
    fail(f, bl_dpset_name(s, i), why);
}

int bl_mf_add_holder(bl_manifest *mf, const char *depot, const uint32_t *idx, size_t n,
                     uint64_t *added, bl_err *err)
{
    *added = 0;
    size_t d = 0;
    while (d < mf->ndepots && strcmp(mf->depots[d], depot))
        d++;
    if (d == mf->ndepots) {
        if (mf->ndepots == BL_MF_MAX_DEPOTS)
            return bl_fail(err, "the manifest already names %d depots, the most it may", BL_MF_MAX_DEPOTS);
        char **nd = realloc(mf->depots, (mf->ndepots + 1) * sizeof *nd);
        if (!nd)
            return bl_fail(err, "out of memory");
        mf->depots = nd;
        if (!(nd[mf->ndepots] = strdup(depot)))
            return bl_fail(err, "out of memory");
        mf->ndepots++;
    }
    uint64_t nchunks = mf->nstripes * mf->m;
    for (size_t k = 0; k < n; k++) {
        if (idx[k] >= nchunks)
            continue;
        bl_mf_chunk *c = &mf->chunks[idx[k]];
        bool there = false;
        for (unsigned a = 0; a < c->nat && !there; a++)
            there = c->at[a] == d;
        if (there || c->nat == BL_MF_MAX_AT)
            continue;
        c->at[c->nat++] = (uint16_t)d;
        (*added)++;
    }
    return 0;
}

int bl_forward_run(const bl_manifest *mf, const bl_okey *key, const char *from, const char *to,
                   unsigned timeout_ms, bl_forward_report *rep, uint32_t **held, uint32_t *nheld,
                   bl_err *err)
{
    memset(rep, 0, sizeof *rep);
    *held = NULL;
    *nheld = 0;
    if (!strcmp(from, to))
        return bl_fail(err, "--from and --to name the same depot (%s)", from);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fwd f = {.to = to, .rep = rep};
    int rc = -1;
    bl_dpset *set = NULL;
    if (!(f.loop = bl_loop_new(err)))
        return -1;
    static const bl_dpset_ops ops = {on_ready, on_msg, on_down};
    const char *names[2] = {from, to};
    set = bl_dpset_new(f.loop, names, 2, BL_DP_ROLE_STORE, key, mf->id, timeout_ms, &ops, &f, err);
    if (!set)
        goto out;
    if (bl_loop_run(f.loop) < 0) {
        bl_fail(err, "event loop failed");
        goto out;
    }
    if (!f.done) {
        *err = f.failed ? f.err : (bl_err){.msg = "the forward ended without an answer"};
        goto out;
    }
    /* an offload whose chunks TO holds beyond the STATUS list's limit is
     * listed only as far as the list goes: the pull still finds the rest
     * at their other holders */
    *held = f.held;
    *nheld = f.nheld;
    f.held = NULL;
    rc = 0;
out:
    bl_dpset_free(set);
    bl_loop_free(f.loop);
    free(f.held);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    return rc;
}
