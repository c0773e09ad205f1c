/* pull: fetch, decode and verify an offload; or report where it is (see
 * pull.h). */
#include "offload/pull.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "offload/dpset.h"
#include "offload/rs.h"
#include "offload/stream.h"

#define WINDOW 4                 /* GETs in flight per depot */
#define OPEN_BYTES (64u << 20)   /* stripes being fetched at once, in bytes */

enum { CH_NONE, CH_ASKED, CH_HAVE };

struct slot {
    int64_t stripe;              /* -1: free */
    uint8_t *buf;                /* m * chunk */
};

typedef struct pull {
    const bl_manifest *mf;
    bl_pull_report *rep;
    bool fetch;
    bl_loop *loop;
    bl_dpset *set;
    uint64_t nchunks;
    uint8_t *held;               /* ndepots * nchunks: depot d lists chunk c */
    bool *stat_done;
    bool fetching;
    /* fetching */
    const char *out;
    bl_rs *rs;
    bl_stream st;
    char **tmp;
    uint8_t *tried;              /* nchunks * ndepots: asked there and failed */
    uint8_t *cst;                /* per chunk */
    int16_t *asked_at;           /* per chunk */
    unsigned *inflight;          /* per depot */
    struct slot *slot;
    size_t nslot;
    uint8_t *sdone;              /* per stripe: in the temporary files, verified */
    bool resume;                 /* a temporary file was there with bytes in it */
    uint64_t next_stripe, done;
    int failed;
    bl_err err;
} pull;

static void fail(pull *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(pull *p, const char *fmt, ...)
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

static bool listed_at(const bl_manifest *mf, uint64_t c, size_t d)
{
    for (unsigned a = 0; a < mf->chunks[c].nat; a++)
        if (mf->chunks[c].at[a] == d)
            return true;
    return false;
}

/* Depot i can be asked for chunk c. */
static bool source(const pull *p, uint64_t c, size_t d)
{
    return bl_dpset_state(p->set, d) == BL_DPSET_READY && p->held[d * p->nchunks + c] &&
           !p->tried[c * p->mf->ndepots + d];
}

/* One line naming the depots that are down, for error messages. */
static void down_list(pull *p, char *out, size_t n)
{
    out[0] = 0;
    for (size_t d = 0; d < p->mf->ndepots; d++) {
        if (bl_dpset_state(p->set, d) != BL_DPSET_DOWN)
            continue;
        size_t l = strlen(out);
        if (l + 40 > n)
            break;
        snprintf(out + l, n - l, "%s%s (%s)", l ? "; " : "", p->mf->depots[d], bl_dpset_why(p->set, d));
    }
    if (!out[0])
        snprintf(out, n, "none");
}

static void reachability(pull *p)
{
    const bl_manifest *mf = p->mf;
    bl_pull_report *r = p->rep;
    r->short_stripes = 0;
    for (uint64_t s = 0; s < mf->nstripes; s++) {
        unsigned k = 0;
        for (unsigned j = 0; j < mf->m; j++) {
            uint64_t c = s * mf->m + j;
            for (size_t d = 0; d < mf->ndepots; d++)
                if (bl_dpset_state(p->set, d) == BL_DPSET_READY && p->held[d * p->nchunks + c]) {
                    k++;
                    break;
                }
        }
        r->reachable[s] = (uint8_t)k;
        r->short_stripes += k < mf->k;
    }
}

/* ---- fetching ---- */

static struct slot *slot_of(pull *p, uint64_t s)
{
    for (size_t i = 0; i < p->nslot; i++)
        if (p->slot[i].stripe == (int64_t)s)
            return &p->slot[i];
    return NULL;
}

static int finish_files(pull *p)
{
    const bl_manifest *mf = p->mf;
    for (size_t i = 0; i < mf->nfiles; i++) {
        uint8_t sha[BL_SHA256_LEN];
        bl_err e;
        if (bl_sha256_fd(p->st.fds[i], mf->files[i].length, sha, &e) < 0) {
            fail(p, "%s: %s", p->tmp[i], e.msg);
            return -1;
        }
        if (!bl_digest_eq(sha, mf->files[i].sha, sizeof sha)) {
            fail(p, "%s: decoded bytes do not match the manifest's SHA-256 (not written)", mf->files[i].name);
            return -1;
        }
        if (fsync(p->st.fds[i]) < 0) {
            fail(p, "%s: fsync: %s", p->tmp[i], strerror(errno));
            return -1;
        }
    }
    for (size_t i = 0; i < mf->nfiles; i++) {
        char final[4400];
        snprintf(final, sizeof final, "%s/%s", p->out, mf->files[i].name);
        if (rename(p->tmp[i], final) < 0) {
            fail(p, "%s: %s", final, strerror(errno));
            return -1;
        }
        free(p->tmp[i]);
        p->tmp[i] = NULL;
    }
    int dfd = open(p->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            bl_warn("offload: fsync %s: %s", p->out, strerror(errno));
        close(dfd);
    }
    return 0;
}

static void complete_stripe(pull *p, struct slot *sl)
{
    const bl_manifest *mf = p->mf;
    uint64_t s = (uint64_t)sl->stripe;
    size_t cl = (size_t)mf->chunk;
    uint8_t *chunks[BL_RS_MAX_M], present[BL_RS_MAX_M];
    for (unsigned j = 0; j < mf->m; j++) {
        chunks[j] = sl->buf + (size_t)j * cl;
        present[j] = p->cst[s * mf->m + j] == CH_HAVE;
    }
    bl_err e;
    if (bl_rs_decode(p->rs, cl, chunks, present, &e) < 0 ||
        bl_stream_write(&p->st, s * mf->k * mf->chunk, sl->buf, (size_t)mf->k * cl, &e) < 0) {
        fail(p, "stripe %" PRIu64 ": %s", s, e.msg);
        return;
    }
    uint64_t end = (s + 1) * mf->k * mf->chunk;
    p->rep->bytes += (end > mf->total ? mf->total : end) - s * mf->k * mf->chunk;
    sl->stripe = -1;
    p->sdone[s] = 1;
    p->done++;
}

static void pump(pull *p)
{
    const bl_manifest *mf = p->mf;
    size_t nd = mf->ndepots;
    while (!p->failed) {
        /* open stripes while there is room (skipping those already on disk) */
        for (size_t i = 0; i < p->nslot && p->next_stripe < mf->nstripes; i++) {
            while (p->next_stripe < mf->nstripes && p->sdone[p->next_stripe])
                p->next_stripe++;
            if (p->slot[i].stripe < 0 && p->next_stripe < mf->nstripes)
                p->slot[i].stripe = (int64_t)p->next_stripe++;
        }
        bool progress = false;
        for (size_t i = 0; i < p->nslot && !p->failed; i++) {
            struct slot *sl = &p->slot[i];
            if (sl->stripe < 0)
                continue;
            uint64_t s = (uint64_t)sl->stripe;
            unsigned have = 0, asked = 0;
            for (unsigned j = 0; j < mf->m; j++) {
                uint8_t st = p->cst[s * mf->m + j];
                have += st == CH_HAVE;
                asked += st == CH_ASKED;
            }
            if (have >= mf->k) {
                complete_stripe(p, sl);
                progress = true;
                continue;
            }
            bool waiting = false;
            /* ask for more, data chunks first (they need no decoding) */
            for (unsigned j = 0; j < mf->m && have + asked < mf->k; j++) {
                uint64_t c = s * mf->m + j;
                if (p->cst[c] != CH_NONE)
                    continue;
                int pick = -1;
                for (size_t d = 0; d < nd; d++) {
                    if (!source(p, c, d))
                        continue;
                    if (p->inflight[d] >= WINDOW) {
                        waiting = true;
                        continue;
                    }
                    /* the least busy depot, then one the manifest names */
                    if (pick < 0 || p->inflight[d] < p->inflight[pick] ||
                        (p->inflight[d] == p->inflight[pick] && listed_at(mf, c, d) &&
                         !listed_at(mf, c, (size_t)pick)))
                        pick = (int)d;
                }
                if (pick < 0)
                    continue;
                bl_dpconn *conn = bl_dpset_conn(p->set, (size_t)pick);
                bl_dp_index(bl_dpconn_out(conn), BL_DP_GET, (uint32_t)c);
                bl_dpconn_flush(conn);
                p->cst[c] = CH_ASKED;
                p->asked_at[c] = (int16_t)pick;
                p->inflight[pick]++;
                bl_dpset_waiting(p->set, (size_t)pick, p->inflight[pick]);
                asked++;
            }
            if (have + asked < mf->k && !waiting) {
                char down[300];
                down_list(p, down, sizeof down);
                fail(p, "stripe %" PRIu64 " cannot be recovered: only %u of the %u chunks it needs can be fetched (depots down: %s)",
                     s, have + asked, mf->k, down);
                return;
            }
        }
        if (!progress)
            break;
    }
    if (!p->failed && p->done == mf->nstripes) {
        if (finish_files(p) == 0)
            bl_loop_stop(p->loop);
    }
}

static void got_data(pull *p, size_t d, const bl_dp_msg *m)
{
    const bl_manifest *mf = p->mf;
    uint64_t c = m->index;
    if (c >= p->nchunks || p->cst[c] != CH_ASKED || p->asked_at[c] != (int16_t)d) {
        bl_dpset_drop(p->set, d, "sent a chunk that was not asked for");
        return;
    }
    p->inflight[d]--;
    bl_dpset_waiting(p->set, d, p->inflight[d]);
    p->rep->bytes_fetched += m->len;
    uint8_t sha[BL_SHA256_LEN];
    bl_sha256(m->data, m->len, sha);
    struct slot *sl = slot_of(p, c / mf->m);
    if (m->len != mf->chunk || !bl_digest_eq(sha, mf->chunks[c].sha, sizeof sha)) {
        bl_warn("offload: chunk %" PRIu64 " from %s does not match the manifest (damaged or altered); asking elsewhere",
                c, mf->depots[d]);
        p->rep->depot[d].bad++;
        p->tried[c * mf->ndepots + d] = 1;
        p->cst[c] = CH_NONE;
    } else if (sl) {
        memcpy(sl->buf + (size_t)(c % mf->m) * mf->chunk, m->data, m->len);
        p->cst[c] = CH_HAVE;
        p->rep->depot[d].fetched++;
    }
    pump(p);
}

static void start_fetch(pull *p)
{
    const bl_manifest *mf = p->mf;
    uint64_t short_left = 0;   /* a stripe already on disk needs no depot */
    for (uint64_t s = 0; s < mf->nstripes; s++)
        short_left += !p->sdone[s] && p->rep->reachable[s] < mf->k;
    if (short_left) {
        char down[300];
        down_list(p, down, sizeof down);
        fail(p, "not recoverable: %" PRIu64 " of %" PRIu64 " stripes have fewer than %u chunks on depots that are up (depots down: %s)",
             short_left, mf->nstripes, mf->k, down);
        return;
    }
    p->fetching = true;
    pump(p);
}

/* ---- depot events ---- */

static void all_answered(pull *p)
{
    for (size_t d = 0; d < p->mf->ndepots; d++)
        if (bl_dpset_state(p->set, d) == BL_DPSET_CONNECTING ||
            (bl_dpset_state(p->set, d) == BL_DPSET_READY && !p->stat_done[d]))
            return;
    reachability(p);
    if (p->fetch)
        start_fetch(p);
    else
        bl_loop_stop(p->loop);
}

static void on_ready(bl_dpset *s, size_t d, void *arg)
{
    (void)arg;
    bl_dpconn *c = bl_dpset_conn(s, d);
    bl_dp_empty(bl_dpconn_out(c), BL_DP_STAT);
    bl_dpconn_flush(c);
    bl_dpset_waiting(s, d, 1);
}

static void on_msg(bl_dpset *s, size_t d, const bl_dp_msg *m, void *arg)
{
    pull *p = arg;
    if (m->type == BL_DP_STATUS && !p->stat_done[d]) {
        p->stat_done[d] = true;
        bl_pull_depot *pd = &p->rep->depot[d];
        pd->up = true;
        pd->free_bytes = m->free_bytes;
        for (uint32_t i = 0; i < m->n; i++) {
            uint32_t c = bl_dp_list_at(m, i);
            if (c < p->nchunks && !p->held[d * p->nchunks + c]) {
                p->held[d * p->nchunks + c] = 1;
                pd->held++;
            }
        }
        /* a list cut at its limit says nothing of the rest: trust the manifest there */
        if (m->n >= BL_DP_MAX_LIST)
            for (uint64_t c = 0; c < p->nchunks; c++)
                if (listed_at(p->mf, c, d) && !p->held[d * p->nchunks + c]) {
                    p->held[d * p->nchunks + c] = 1;
                    pd->held++;
                }
        bl_dpset_waiting(s, d, 0);
        all_answered(p);
    } else if (p->fetching && m->type == BL_DP_DATA) {
        got_data(p, d, m);
    } else if (p->fetching && m->type == BL_DP_MISSING) {
        uint64_t c = m->index;
        if (c >= p->nchunks || p->cst[c] != CH_ASKED || p->asked_at[c] != (int16_t)d) {
            bl_dpset_drop(s, d, "answered a request that was not made");
            return;
        }
        char why[BL_DP_MAX_TEXT + 1];
        bl_log_safe(why, sizeof why, m->data, m->len);
        bl_warn("offload: %s has no chunk %" PRIu64 ": %s; asking elsewhere", p->mf->depots[d], c, why);
        p->inflight[d]--;
        bl_dpset_waiting(s, d, p->inflight[d]);
        p->tried[c * p->mf->ndepots + d] = 1;
        p->cst[c] = CH_NONE;
        pump(p);
    } else {
        bl_dpset_drop(s, d, "unexpected message from the depot");
    }
}

static void on_down(bl_dpset *s, size_t d, const char *why, void *arg)
{
    pull *p = arg;
    bl_pull_depot *pd = &p->rep->depot[d];
    pd->up = false;
    snprintf(pd->why, sizeof pd->why, "%s", why);
    if (p->fetching) {
        bl_warn("offload: depot %s: %s; asking the others", bl_dpset_name(s, d), why);
        for (uint64_t c = 0; c < p->nchunks; c++)
            if (p->cst[c] == CH_ASKED && p->asked_at[c] == (int16_t)d) {
                p->cst[c] = CH_NONE;
                p->tried[c * p->mf->ndepots + d] = 1;
            }
        p->inflight[d] = 0;
        pump(p);
    } else {
        all_answered(p);
    }
}

/* ---- set-up ---- */

static int open_out(pull *p, bl_err *err)
{
    const bl_manifest *mf = p->mf;
    p->st.n = mf->nfiles;
    p->st.total = mf->total;
    p->st.fds = malloc(mf->nfiles * sizeof *p->st.fds);
    p->st.len = malloc(mf->nfiles * sizeof *p->st.len);
    p->tmp = calloc(mf->nfiles, sizeof *p->tmp);
    if (!p->st.fds || !p->st.len || !p->tmp)
        return bl_fail(err, "out of memory");
    for (size_t i = 0; i < mf->nfiles; i++)
        p->st.fds[i] = -1;
    for (size_t i = 0; i < mf->nfiles; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/.%s.bitlib-pull", p->out, mf->files[i].name);
        if (!(p->tmp[i] = strdup(path)))
            return bl_fail(err, "out of memory");
        /* not truncated: what an interrupted pull left is checked by resume() */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return bl_fail(err, "%s: %s", path, strerror(errno));
        p->st.fds[i] = fd;
        p->st.len[i] = mf->files[i].length;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
            return bl_fail(err, "%s: %s", path,
                           errno == EWOULDBLOCK ? "another pull into this directory is using it" : strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
            return bl_fail(err, "%s: %s", path, strerror(errno));
        if (st.st_size > 0)
            p->resume = true;
        if ((uint64_t)st.st_size != mf->files[i].length && ftruncate(fd, (off_t)mf->files[i].length) < 0)
            return bl_fail(err, "%s: %s", path, strerror(errno));
    }
    return 0;
}

/* What an interrupted pull left in the temporary files: a stripe whose K
 * data chunks, read back, match the manifest's SHA-256 is kept and not
 * fetched again (no state file to trust: the bytes on disk are checked).
 * A stripe cut short by a kill, or never written (zeros), does not match
 * and is fetched. */
static int resume(pull *p, bl_err *err)
{
    const bl_manifest *mf = p->mf;
    size_t cl = (size_t)mf->chunk;
    uint8_t *buf = malloc((size_t)mf->k * cl);
    if (!buf)
        return bl_fail(err, "out of memory");
    for (uint64_t s = 0; s < mf->nstripes; s++) {
        if (bl_stream_read(&p->st, s * mf->k * mf->chunk, buf, (size_t)mf->k * cl, err) < 0) {
            free(buf);
            return -1;
        }
        bool ok = true;
        for (unsigned j = 0; j < mf->k && ok; j++) {
            uint8_t sha[BL_SHA256_LEN];
            bl_sha256(buf + (size_t)j * cl, cl, sha);
            ok = bl_digest_eq(sha, mf->chunks[s * mf->m + j].sha, sizeof sha);
        }
        if (!ok)
            continue;
        uint64_t start = s * mf->k * mf->chunk, end = start + mf->k * mf->chunk;
        p->sdone[s] = 1;
        p->done++;
        p->rep->stripes_resumed++;
        p->rep->bytes_resumed += (end > mf->total ? mf->total : end) - start;
    }
    free(buf);
    if (p->rep->stripes_resumed)
        bl_info("offload: resuming: %" PRIu64 " of %" PRIu64 " stripes (%" PRIu64 " bytes) are already in %s and match the manifest",
                p->rep->stripes_resumed, mf->nstripes, p->rep->bytes_resumed, p->out);
    return 0;
}

/* A pull run again after it completed: every file is in out_dir, a regular
 * file with the manifest's length and SHA-256.  Then nothing is fetched
 * (before, a re-run fetched all of it again); a file that is missing or
 * differs makes it an ordinary pull, which replaces every file. */
static bool already_pulled(const bl_manifest *mf, const char *out_dir)
{
    if (mf->nfiles == 0)
        return false;
    for (size_t i = 0; i < mf->nfiles; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", out_dir, mf->files[i].name);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return false;
        struct stat st;
        uint8_t sha[BL_SHA256_LEN];
        bl_err err;
        bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    (uint64_t)st.st_size == mf->files[i].length &&
                    bl_sha256_fd(fd, mf->files[i].length, sha, &err) == 0 &&
                    bl_digest_eq(sha, mf->files[i].sha, sizeof sha);
        close(fd);
        if (!same)
            return false;
    }
    return true;
}

static int run(const bl_manifest *mf, const char *out_dir, unsigned timeout_ms, bool fetch,
               bl_pull_report *rep, bl_err *err)
{
    memset(rep, 0, sizeof *rep);
    pull *p = calloc(1, sizeof *p);
    if (!p)
        return bl_fail(err, "out of memory");
    p->mf = mf;
    p->rep = rep;
    p->fetch = fetch;
    p->out = out_dir;
    p->nchunks = mf->nstripes * mf->m;
    int rc = -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (p->nchunks * mf->ndepots > (64u << 20)) {
        bl_fail(err, "manifest too large to pull (%" PRIu64 " chunks on %zu depots)", p->nchunks, mf->ndepots);
        goto out;
    }
    rep->depot = calloc(mf->ndepots, sizeof *rep->depot);
    rep->reachable = calloc(mf->nstripes ? mf->nstripes : 1, 1);
    p->held = calloc(mf->ndepots * p->nchunks + 1, 1);
    p->stat_done = calloc(mf->ndepots, sizeof *p->stat_done);
    if (!rep->depot || !rep->reachable || !p->held || !p->stat_done) {
        bl_fail(err, "out of memory");
        goto out;
    }
    for (uint64_t c = 0; c < p->nchunks; c++)
        for (unsigned a = 0; a < mf->chunks[c].nat; a++)
            rep->depot[mf->chunks[c].at[a]].listed++;
    if (fetch && already_pulled(mf, out_dir)) {
        bl_info("offload: every file is in %s already and matches its SHA-256: nothing to pull", out_dir);
        rep->already_there = true;
        rep->bytes_resumed = mf->total;
        rc = 0;
        goto out;
    }
    if (fetch) {
        p->tried = calloc(mf->ndepots * p->nchunks + 1, 1);
        p->cst = calloc(p->nchunks + 1, 1);
        p->asked_at = calloc(p->nchunks + 1, sizeof *p->asked_at);
        p->inflight = calloc(mf->ndepots, sizeof *p->inflight);
        size_t sb = (size_t)mf->m * (size_t)mf->chunk;
        p->nslot = OPEN_BYTES / sb < 2 ? 2 : OPEN_BYTES / sb;
        if (p->nslot > mf->nstripes)
            p->nslot = mf->nstripes ? (size_t)mf->nstripes : 1;
        p->slot = calloc(p->nslot, sizeof *p->slot);
        p->sdone = calloc(mf->nstripes + 1, 1);
        if (!p->tried || !p->cst || !p->asked_at || !p->inflight || !p->slot || !p->sdone) {
            bl_fail(err, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < p->nslot; i++) {
            p->slot[i].stripe = -1;
            if (!(p->slot[i].buf = malloc(sb))) {
                bl_fail(err, "out of memory");
                goto out;
            }
        }
        if (!(p->rs = bl_rs_new(mf->k, mf->m, err)) || open_out(p, err) < 0 ||
            (p->resume && resume(p, err) < 0))
            goto out;
    }
    if (!(p->loop = bl_loop_new(err)))
        goto out;
    bl_okey pk = {.len = BL_SHA256_LEN};
    memcpy(pk.bytes, mf->pull_key, BL_SHA256_LEN);
    static const bl_dpset_ops ops = {on_ready, on_msg, on_down};
    p->set = bl_dpset_new(p->loop, (const char *const *)mf->depots, mf->ndepots, BL_DP_ROLE_PULL, &pk,
                          mf->id, timeout_ms, &ops, p, err);
    memset(&pk, 0, sizeof pk);
    if (!p->set)
        goto out;
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
    /* the final state of every depot, for the report */
    for (size_t d = 0; p->set && d < mf->ndepots; d++)
        if (bl_dpset_state(p->set, d) == BL_DPSET_DOWN) {
            rep->depot[d].up = false;
            snprintf(rep->depot[d].why, sizeof rep->depot[d].why, "%s", bl_dpset_why(p->set, d));
        }
    bl_dpset_free(p->set);
    if (p->loop)
        bl_loop_free(p->loop);
    bl_rs_free(p->rs);
    /* a failed pull that has stripes on disk keeps them for the next one */
    bool keep = rc < 0 && p->done > 0 && p->tmp;
    if (keep) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l,
                 "; %" PRIu64 " of %" PRIu64 " stripes are kept in %s (.NAME.bitlib-pull): the same pull resumes from them",
                 p->done, mf->nstripes, out_dir);
    }
    for (size_t i = 0; p->st.fds && i < p->st.n; i++)
        if (p->st.fds[i] >= 0)
            close(p->st.fds[i]);
    for (size_t i = 0; p->tmp && i < mf->nfiles; i++) {
        if (!keep && p->tmp[i] && unlink(p->tmp[i]) < 0 && errno != ENOENT)
            bl_warn("offload: cannot remove %s: %s", p->tmp[i], strerror(errno));
        free(p->tmp[i]);
    }
    free(p->tmp);
    free(p->st.fds);
    free(p->st.len);
    for (size_t i = 0; p->slot && i < p->nslot; i++)
        free(p->slot[i].buf);
    free(p->slot);
    free(p->sdone);
    free(p->held);
    free(p->stat_done);
    free(p->tried);
    free(p->cst);
    free(p->asked_at);
    free(p->inflight);
    free(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    return rc;
}

int bl_pull_status(const bl_manifest *mf, unsigned timeout_ms, bl_pull_report *rep, bl_err *err)
{
    return run(mf, NULL, timeout_ms, false, rep, err);
}

int bl_pull_run(const bl_manifest *mf, const char *out_dir, unsigned timeout_ms,
                bl_pull_report *rep, bl_err *err)
{
    struct stat st;
    if (stat(out_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        memset(rep, 0, sizeof *rep);
        return bl_fail(err, "%s: not a directory", out_dir);
    }
    return run(mf, out_dir, timeout_ms, true, rep, err);
}

void bl_pull_report_free(bl_pull_report *rep)
{
    free(rep->depot);
    free(rep->reachable);
    memset(rep, 0, sizeof *rep);
}
