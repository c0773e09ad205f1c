/* node: see node.h.  The mode policy lives here and nowhere else:
 *
 *   start   bulk: want everything (BULK); hybrid: the prefetch list
 *           (PREFETCH, symlinks resolved inside the set), and without FUSE
 *           (a tree: nothing would ever open the other files) the rest of
 *           the set after it (BULK); file, block: nothing
 *   open    bulk, file, hybrid: the file's pieces become OPENED; file and
 *           hybrid: once an opened ELF object is local, the files of the
 *           set its dynamic section names (fs/elfahead.h) become PREFETCH,
 *           and theirs as they arrive (off with no_elf_readahead)
 *   read    every mode: missing pieces the read covers get a deadline */
#include "fs/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/sha1.h"
#include "fs/elfahead.h"
#include "fs/pending.h"

#define TICK_MS 100
/* After a wait for piece P times out, new waits needing P fail at once for
 * this long: the kernel retries a failed read-ahead page by page, and each
 * retry must not cost another full timeout. */
#define FAIL_FAST_MS 3000
#define MAX_WAITERS 65536

struct wait {
    bl_node_ready_fn fn;
    void *arg;
};

struct bl_node {
    bl_loop *loop;
    bl_node_config cfg;
    const bl_metainfo *mi;
    bl_fsindex ix;
    bl_swarm *swarm;
    bl_pending *pending;
    bl_node_counters ctr;
    uint64_t *timed_out_at;  /* per piece: loop time its last wait timed out, 0 */
    uint64_t tick_timer;
    uint64_t start_ms;
    int store_errno;         /* the cache cannot store pieces (swarm paused) */
    size_t *opened;          /* entries in the order they were first opened */
    size_t nopened;
    uint8_t *opened_seen;    /* per entry */
    size_t learn_written;    /* nopened when cfg.learn_path was last written */
    uint64_t learn_ms;       /* when */
    bl_elfahead *ahead;      /* ELF read-ahead (file, hybrid), or NULL */
    size_t *ahead_work;      /* entries to examine now (a stack) */
    size_t ahead_nwork;
    bool stopped;
};

static const char *const mode_names[] = {"bulk", "file", "hybrid", "block"};

const char *bl_fs_mode_name(enum bl_fs_mode m)
{
    return (unsigned)m < 4 ? mode_names[m] : "?";
}

int bl_fs_mode_parse(const char *s, enum bl_fs_mode *m)
{
    for (unsigned i = 0; i < 4; i++)
        if (!strcmp(s, mode_names[i])) {
            *m = (enum bl_fs_mode)i;
            return 0;
        }
    return -1;
}

/* ---- waiting -------------------------------------------------------------- */

static void drain(bl_node *n)
{
    bl_pending_done d;
    while (bl_pending_pop(n->pending, &d)) {
        struct wait *w = d.cookie;
        if (d.result == ETIMEDOUT && d.piece < n->mi->num_pieces)
            n->timed_out_at[d.piece] = bl_loop_now_ms(n->loop);
        bl_node_ready_fn fn = w->fn;
        void *arg = w->arg;
        free(w);
        fn(arg, d.result, d.piece);
    }
}

static void ahead_local(bl_node *n, uint32_t piece);
static void learn_flush(bl_node *n, bool now);

static void on_piece(void *arg, uint32_t piece)
{
    bl_node *n = arg;
    if (bl_pending_piece(n->pending, piece, bl_loop_now_ms(n->loop)))
        drain(n);
    if (n->ahead)
        ahead_local(n, piece);
    if (n->cfg.on_piece)
        n->cfg.on_piece(n->cfg.on_piece_arg, piece);
}

/* Reads that wait for pieces the cache cannot store would wait for nothing:
 * they fail now, with the cache's error (the file system says why). */
static void on_store_failing(void *arg, int err_no)
{
    bl_node *n = arg;
    n->store_errno = err_no;
    if (err_no && bl_pending_fail_all(n->pending, err_no))
        drain(n);
}

static void on_complete(void *arg)
{
    bl_node *n = arg;
    bl_swarm_stats st;
    bl_swarm_get_stats(n->swarm, &st);
    bl_info("every wanted piece is local (%u/%u pieces)", st.pieces_had, st.pieces_total);
}

static void tick(bl_loop *loop, void *arg)
{
    bl_node *n = arg;
    n->tick_timer = bl_loop_timer(loop, TICK_MS, tick, n);
    learn_flush(n, false);
    if (bl_pending_expire(n->pending, bl_loop_now_ms(loop)))
        drain(n);
}

static bool have_piece(void *ctx, uint32_t piece)
{
    return bl_store_have(bl_swarm_store(ctx), piece);
}

int bl_node_wait(bl_node *n, size_t entry, uint64_t off, uint64_t len, bl_node_ready_fn fn,
                 void *arg, int64_t *id, uint32_t *failed_piece)
{
    if (id)
        *id = 0;
    const bl_mentry *e = &n->mi->entries[entry];
    if (!S_ISREG(e->mode) || e->file < 0 || off >= e->size)
        return 1;
    if (len == 0 || len > e->size - off)
        len = e->size - off;
    uint32_t first, last;
    bl_metainfo_piece_range(n->mi, (size_t)e->file, off, len, &first, &last);
    if (first > last)
        return 1;
    uint64_t now = bl_loop_now_ms(n->loop);
    bl_store *st = bl_swarm_store(n->swarm);
    for (uint32_t p = first; p <= last && n->store_errno; p++)
        if (!bl_store_have(st, p)) {
            if (failed_piece)
                *failed_piece = p;
            return -3;
        }
    for (uint32_t p = first; p <= last; p++) {
        uint64_t t = n->timed_out_at[p];
        if (t && now - t < FAIL_FAST_MS && !bl_store_have(st, p)) {
            if (failed_piece)
                *failed_piece = p;
            return -2;
        }
    }
    struct wait *w = malloc(sizeof *w);
    if (!w)
        return -1;
    w->fn = fn;
    w->arg = arg;
    int64_t wid = bl_pending_add(n->pending, first, last, have_piece, n->swarm, now,
                                 n->cfg.read_timeout_ms, w);
    if (wid <= 0) {
        free(w);
        return wid == 0 ? 1 : -1;
    }
    for (uint32_t p = first; p <= last; p++)
        if (!bl_store_have(bl_swarm_store(n->swarm), p))
            bl_swarm_deadline(n->swarm, p, now + n->cfg.read_timeout_ms);
    if (id)
        *id = wid;
    return 0;
}

bool bl_node_cancel(bl_node *n, int64_t id)
{
    struct wait *w = bl_pending_cancel(n->pending, id);
    free(w);
    return w != NULL;
}

size_t bl_node_waiting(const bl_node *n) { return bl_pending_count(n->pending); }

/* ---- policy ----------------------------------------------------------------- */

static void want_entry(bl_node *n, size_t entry, enum bl_prio cls)
{
    uint32_t first, last;
    if (bl_fsindex_pieces(&n->ix, entry, &first, &last))
        bl_swarm_want(n->swarm, first, last, cls);
}

/* Examine every local object on the work stack; what they need is wanted
 * next, below every reader's deadline and every opened file, and examined
 * in turn as soon as it is local. */
static void ahead_run(bl_node *n)
{
    size_t deps[256];
    while (n->ahead_nwork) {
        size_t e = n->ahead_work[--n->ahead_nwork];
        uint64_t size = n->mi->entries[e].size;
        if (size > BL_ELFAHEAD_MAX_IMAGE)
            continue;
        uint8_t *img = malloc(size);
        bl_err err;
        if (!img || bl_node_read(n, e, 0, size, img, &err) != (int64_t)size) {
            free(img);
            continue;
        }
        size_t nd = bl_elfahead_examine(n->ahead, e, img, size, deps, 256);
        free(img);
        for (size_t i = 0; i < nd; i++) {
            want_entry(n, deps[i], BL_PRIO_PREFETCH);
            if (bl_node_entry_local(n, deps[i]))
                n->ahead_work[n->ahead_nwork++] = deps[i];
        }
    }
}

/* Piece arrived: tracked objects it completed are examined. */
static void ahead_local(bl_node *n, uint32_t piece)
{
    size_t f, end;
    bl_metainfo_piece_files(n->mi, piece, &f, &end);
    for (; f < end; f++) {
        const bl_mfile *mf = &n->mi->files[f];
        if (mf->entry >= 0 && bl_elfahead_pending(n->ahead, (size_t)mf->entry) &&
            bl_node_entry_local(n, (size_t)mf->entry))
            n->ahead_work[n->ahead_nwork++] = (size_t)mf->entry;
    }
    ahead_run(n);
}

size_t bl_node_opened_list(const bl_node *n, const size_t **entries)
{
    *entries = n->opened;
    return n->nopened;
}

int bl_node_write_trace(const bl_node *n, const char *path, bl_err *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp)
        return bl_fail(err, "%s: path too long", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return bl_fail(err, "cannot write the trace %s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n->nopened; i++) {
        const char *p = n->mi->entries[n->opened[i]].path;
        if (!strchr(p, '\n')) /* a name a line cannot hold is left out */
            fprintf(f, "%s\n", p);
    }
    bool ok = fflush(f) == 0 && !ferror(f);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok || rename(tmp, path) < 0) {
        if (ok)
            e = errno;
        unlink(tmp);
        return bl_fail(err, "cannot write the trace %s: %s", path, strerror(e));
    }
    return 0;
}

/* --learn: the trace follows the opens, written at most once a second (so
 * a kept mount or a killed daemon leaves a current one) and at stop. */
static void learn_flush(bl_node *n, bool now)
{
    if (!n->cfg.learn_path || n->learn_written == n->nopened)
        return;
    uint64_t t = bl_loop_now_ms(n->loop);
    if (!now && t - n->learn_ms < 1000)
        return;
    n->learn_ms = t;
    n->learn_written = n->nopened;
    bl_err err;
    if (bl_node_write_trace(n, n->cfg.learn_path, &err) < 0)
        bl_warn("%s", err.msg);
}

void bl_node_opened(bl_node *n, size_t entry)
{
    if (entry < n->mi->num_entries && !n->opened_seen[entry]) {
        n->opened_seen[entry] = 1;
        n->opened[n->nopened++] = entry;
    }
    if (n->cfg.mode != BL_FS_BLOCK)
        want_entry(n, entry, BL_PRIO_OPENED);
    if (n->ahead && bl_elfahead_track(n->ahead, entry) && bl_node_entry_local(n, entry)) {
        n->ahead_work[n->ahead_nwork++] = entry;
        ahead_run(n);
    }
}

static void want_prefetch(bl_node *n)
{
    size_t files = 0, missing = 0;
    for (size_t i = 0; i < n->mi->num_prefetch; i++) {
        size_t e = bl_fsindex_resolve(&n->ix, n->mi->prefetch[i], true);
        if (e == BL_FS_NO_ENTRY) {
            missing++;
            continue;
        }
        if (S_ISREG(n->mi->entries[e].mode)) {
            want_entry(n, e, BL_PRIO_PREFETCH);
            files++;
        }
    }
    bl_info("hybrid mode: prefetching %zu files of the description's list%s", files,
            missing ? " (some entries do not resolve inside the set; skipped)" : "");
}

/* ---- life ------------------------------------------------------------------- */

bl_node *bl_node_new(bl_loop *loop, const bl_node_config *cfg, bl_err *err)
{
    bl_node *n = calloc(1, sizeof *n);
    if (!n) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    n->loop = loop;
    n->cfg = *cfg;
    n->mi = cfg->mi;
    if (bl_fsindex_build(&n->ix, n->mi, err) < 0) {
        free(n);
        return NULL;
    }
    n->pending = bl_pending_new(n->mi->num_pieces, MAX_WAITERS);
    n->timed_out_at = calloc(n->mi->num_pieces ? n->mi->num_pieces : 1, sizeof(uint64_t));
    n->opened = malloc((n->mi->num_entries + 1) * sizeof *n->opened);
    n->opened_seen = calloc(n->mi->num_entries + 1, 1);
    if (!n->pending || !n->timed_out_at || !n->opened || !n->opened_seen) {
        bl_fail(err, "out of memory");
        goto fail;
    }
    if (!cfg->no_elf_readahead && (cfg->mode == BL_FS_FILE || cfg->mode == BL_FS_HYBRID)) {
        /* each entry is pushed on the work stack at most once (when it
         * stops being pending), so num_entries slots always suffice */
        n->ahead = bl_elfahead_new(n->mi, &n->ix, err);
        n->ahead_work = malloc((n->mi->num_entries + 1) * sizeof *n->ahead_work);
        if (!n->ahead || !n->ahead_work) {
            bl_fail(err, "out of memory");
            goto fail;
        }
    }
    bl_swarm_config sc = {
        .mi = n->mi, .dir = cfg->cache_dir, .seed = false, .listen = cfg->listen,
        .use_trackers = cfg->use_trackers, .policy = cfg->policy,
        .secret = cfg->secret, .allow_stock = cfg->allow_stock,
        .on_piece = on_piece, .on_complete = on_complete,
        .on_store_failing = on_store_failing, .arg = n,
    };
    n->swarm = bl_swarm_new(loop, &sc, err);
    if (!n->swarm)
        goto fail;
    return n;
fail:
    bl_node_free(n);
    return NULL;
}

int bl_node_start(bl_node *n, bl_err *err)
{
    bl_loop_refresh_now(n->loop);
    n->start_ms = bl_loop_now_ms(n->loop);
    if (n->cfg.mode == BL_FS_BULK)
        bl_swarm_want_all(n->swarm, BL_PRIO_BULK);
    else if (n->cfg.mode == BL_FS_HYBRID) {
        want_prefetch(n);
        if (n->cfg.tree_dir)
            bl_swarm_want_all(n->swarm, BL_PRIO_BULK);
    }
    if (bl_swarm_start(n->swarm, err) < 0)
        return -1;
    n->tick_timer = bl_loop_timer(n->loop, TICK_MS, tick, n);
    return 0;
}

void bl_node_stop(bl_node *n)
{
    if (n->stopped)
        return;
    n->stopped = true;
    learn_flush(n, true);
    bl_pending_fail_all(n->pending, ECANCELED);
    drain(n);
    if (n->tick_timer) {
        bl_loop_timer_cancel(n->loop, n->tick_timer);
        n->tick_timer = 0;
    }
    if (n->swarm)
        bl_swarm_stop(n->swarm);
}

void bl_node_free(bl_node *n)
{
    if (!n)
        return;
    if (n->tick_timer)
        bl_loop_timer_cancel(n->loop, n->tick_timer);
    if (n->pending) {
        bl_pending_done d;
        bl_pending_fail_all(n->pending, ECANCELED);
        while (bl_pending_pop(n->pending, &d))
            free(d.cookie);
        bl_pending_free(n->pending);
    }
    bl_swarm_free(n->swarm);
    bl_elfahead_free(n->ahead);
    free(n->ahead_work);
    free(n->opened);
    free(n->opened_seen);
    bl_fsindex_free(&n->ix);
    free(n->timed_out_at);
    free(n);
}

bl_swarm *bl_node_swarm(bl_node *n) { return n->swarm; }
const bl_fsindex *bl_node_index(const bl_node *n) { return &n->ix; }
const bl_metainfo *bl_node_mi(const bl_node *n) { return n->mi; }
bl_node_counters *bl_node_counters_of(bl_node *n) { return &n->ctr; }
enum bl_fs_mode bl_node_mode(const bl_node *n) { return n->cfg.mode; }
uint64_t bl_node_read_timeout_ms(const bl_node *n) { return n->cfg.read_timeout_ms; }
const char *bl_node_cache_dir(const bl_node *n) { return n->cfg.cache_dir; }
int bl_node_store_errno(const bl_node *n) { return n->store_errno; }

int64_t bl_node_read(bl_node *n, size_t entry, uint64_t off, size_t len, uint8_t *out,
                     bl_err *err)
{
    const bl_mentry *e = &n->mi->entries[entry];
    if (!S_ISREG(e->mode))
        return bl_fail(err, "not a regular file");
    if (e->file < 0 || off >= e->size)
        return 0;
    return bl_store_read_file(bl_swarm_store(n->swarm), (size_t)e->file, off, len, out, err);
}

bool bl_node_all_local(const bl_node *n)
{
    return bl_store_complete(bl_swarm_store(n->swarm));
}

bool bl_node_entry_local(const bl_node *n, size_t entry)
{
    const bl_mentry *e = &n->mi->entries[entry];
    if (!S_ISREG(e->mode) || e->file < 0 || e->size == 0)
        return true;
    return bl_store_file_ready(bl_swarm_store(n->swarm), (size_t)e->file, 0, e->size);
}

/* ---- status ----------------------------------------------------------------- */

#define U(x) ((unsigned long long)(x))

void bl_node_status_json(bl_node *n, bl_buf *b, const char *mountpoint)
{
    bl_swarm_stats st;
    bl_swarm_get_stats(n->swarm, &st);
    uint32_t q[BL_PRIO_COUNT];
    bl_swarm_queue(n->swarm, q);
    char ih[2 * BL_SHA1_LEN + 1];
    bl_hex(n->mi->info_hash, BL_SHA1_LEN, ih);
    const bl_node_counters *c = &n->ctr;
    bl_buf_printf(b, "{\"kind\":\"mount\",\"pid\":%d,\"mountpoint\":", (int)getpid());
    bl_json_cstr(b, mountpoint);
    bl_buf_puts(b, ",\"name\":");
    bl_json_cstr(b, n->mi->name);
    bl_buf_printf(b, ",\"info_hash\":\"%s\",\"mode\":\"%s\",\"cache\":", ih,
                  bl_fs_mode_name(n->cfg.mode));
    bl_json_cstr(b, n->cfg.cache_dir);
    bl_buf_puts(b, ",\"log\":");
    bl_json_cstr(b, n->cfg.log_path);
    bl_buf_printf(b, ",\"front\":\"%s\",\"tree\":", n->cfg.tree_dir ? "tree" : "fuse");
    bl_json_cstr(b, n->cfg.tree_dir);
    bl_buf_printf(b, ",\"uptime_s\":%.3f,\"read_timeout_s\":%.3f,\"piece_length\":%llu,",
                  (double)(bl_loop_now_ms(n->loop) - n->start_ms) / 1000.0,
                  (double)n->cfg.read_timeout_ms / 1000.0, U(n->mi->piece_length));
    bl_buf_printf(b, "\"queue\":{\"deadline\":%u,\"opened\":%u,\"prefetch\":%u,\"bulk\":%u,"
                     "\"none\":%u},",
                  q[BL_PRIO_DEADLINE], q[BL_PRIO_OPENED], q[BL_PRIO_PREFETCH], q[BL_PRIO_BULK],
                  q[BL_PRIO_NONE]);
    bl_elfahead_stats ea = {0};
    if (n->ahead)
        bl_elfahead_get_stats(n->ahead, &ea);
    bl_buf_printf(b, "\"opened_files\":%zu,\"learn\":", n->nopened);
    bl_json_cstr(b, n->cfg.learn_path);
    bl_buf_putc(b, ',');
    bl_buf_printf(b, "\"elf_readahead\":%s,\"elf_examined\":%llu,\"elf_readahead_files\":%llu,",
                  n->ahead ? "true" : "false", U(ea.examined), U(ea.found));
    bl_buf_printf(b, "\"reads_waiting\":%zu,\"cache_write_errors\":%llu,\"cache_error\":",
                  bl_pending_count(n->pending), U(st.write_errors));
    if (st.store_errno)
        bl_json_cstr(b, strerror(st.store_errno));
    else
        bl_buf_puts(b, "null");
    bl_buf_putc(b, ',');
    bl_buf_printf(b,
                  "\"fuse\":{\"lookups\":%llu,\"lookups_negative\":%llu,\"getattrs\":%llu,"
                  "\"readdirs\":%llu,\"readlinks\":%llu,\"statfs\":%llu,\"opens\":%llu,"
                  "\"reads\":%llu,\"read_bytes\":%llu,\"cache_hits\":%llu,\"reads_waited\":%llu,"
                  "\"read_timeouts\":%llu,\"read_errors\":%llu,\"interrupted\":%llu,"
                  "\"erofs\":%llu},\"fetches\":%llu,\"fetch_timeouts\":%llu,",
                  U(c->lookups), U(c->lookups_negative), U(c->getattrs), U(c->readdirs),
                  U(c->readlinks), U(c->statfs), U(c->opens), U(c->reads), U(c->read_bytes),
                  U(c->cache_hits), U(c->reads_waited), U(c->read_timeouts), U(c->read_errors),
                  U(c->interrupted), U(c->erofs), U(c->fetches), U(c->fetch_timeouts));
    bl_swarm_status_json(n->swarm, b);
    bl_buf_putc(b, '}');
}
