/* watch: see watch.h. */
#include "launch/watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "launch/registry.h"

#define RESCAN_MS 2000
#define RESCAN_NO_PIDFD_MS 250
#define LOCK_RETRY_MS 20
#define MAX_WATCHED 65536

typedef struct watched {
    bl_reg_watch *w;
    bl_holder h;
    int fd;
} watched;

struct bl_reg_watch {
    bl_loop *loop;
    bl_reg reg;
    void (*fn)(void *arg);
    void *arg;
    watched **v;
    size_t n, cap;
    uint64_t rescan_timer, retry_timer;
    bool pidfds;      /* the kernel has pidfd_open */
    bool fired;       /* fn was called; the lock is ours until free */
};

static void rescan(bl_reg_watch *w);
static void consider(bl_reg_watch *w);

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static void drop(bl_reg_watch *w, size_t i)
{
    watched *x = w->v[i];
    bl_loop_del(w->loop, x->fd);
    close(x->fd);
    free(x);
    w->v[i] = w->v[--w->n];
}

static void on_exit_fd(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    watched *x = arg;
    bl_reg_watch *w = x->w;
    bl_debug("holder %d exited", (int)x->h.pid);
    bl_reg_remove(&w->reg, x->h.pid, x->h.start);
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i] == x) {
            drop(w, i);
            break;
        }
    rescan(w);
    consider(w);
}

static bool is_watched(const bl_reg_watch *w, const bl_holder *h)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i]->h.pid == h->pid && w->v[i]->h.start == h->start)
            return true;
    return false;
}

static void watch_one(bl_reg_watch *w, const bl_holder *h)
{
    if (!w->pidfds || w->n == MAX_WATCHED)
        return;
    int fd = pidfd_open_(h->pid);
    if (fd < 0) {
        if (errno == ENOSYS || errno == EPERM) {
            w->pidfds = false;
            bl_warn("no pidfds (%s): checking the holders of this mount every %d ms instead",
                    strerror(errno), RESCAN_NO_PIDFD_MS);
        }
        return; /* ESRCH: gone already; the next count finds it stale */
    }
    uint64_t start;
    if (bl_proc_start_time(h->pid, &start) < 0 || start != h->start) {
        close(fd); /* the PID was reused between the count and pidfd_open */
        return;
    }
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        watched **nv = realloc(w->v, nc * sizeof *nv);
        if (!nv) {
            close(fd);
            return;
        }
        w->v = nv;
        w->cap = nc;
    }
    watched *x = malloc(sizeof *x);
    if (!x || bl_loop_add(w->loop, fd, BL_EV_READ, on_exit_fd, x, NULL) < 0) {
        free(x);
        close(fd);
        return;
    }
    *x = (watched){.w = w, .h = *h, .fd = fd};
    w->v[w->n++] = x;
}

static void rescan(bl_reg_watch *w)
{
    size_t cap = 256, live;
    bl_holder *hs = NULL;
    for (;;) {
        bl_holder *nh = realloc(hs, cap * sizeof *hs);
        if (!nh) {
            free(hs);
            return;
        }
        hs = nh;
        live = bl_reg_holders(&w->reg, hs, cap);
        if (live <= cap || cap >= MAX_WATCHED)
            break;
        cap = live < MAX_WATCHED ? live : MAX_WATCHED;
    }
    if (live > cap)
        live = cap;
    for (size_t i = 0; i < live; i++)
        if (!is_watched(w, &hs[i]))
            watch_one(w, &hs[i]);
    free(hs);
}

static void on_retry(bl_loop *loop, void *arg)
{
    (void)loop;
    bl_reg_watch *w = arg;
    w->retry_timer = 0;
    consider(w);
}

/* No holder watched: make sure under the lock, then leave. */
static void consider(bl_reg_watch *w)
{
    if (w->fired || w->n > 0 || w->retry_timer)
        return;
    bl_err err;
    int got = bl_reg_trylock(&w->reg, &err);
    if (got < 0) {
        bl_warn("%s", err.msg);
        return;
    }
    if (got == 0) { /* a rank is joining or starting right now */
        w->retry_timer = bl_loop_timer(w->loop, LOCK_RETRY_MS, on_retry, w);
        return;
    }
    size_t live = bl_reg_holders(&w->reg, NULL, 0);
    if (live > 0 || bl_reg_keep(&w->reg)) {
        bl_reg_unlock(&w->reg);
        if (live > 0)
            rescan(w);
        return;
    }
    w->fired = true;
    bl_info("the last process using this mount has exited: leaving");
    w->fn(w->arg);
}

static void on_rescan(bl_loop *loop, void *arg)
{
    bl_reg_watch *w = arg;
    w->rescan_timer = bl_loop_timer(loop, w->pidfds ? RESCAN_MS : RESCAN_NO_PIDFD_MS, on_rescan, w);
    if (w->fired)
        return;
    rescan(w);
    if (!w->pidfds) {
        /* without pidfds, count the live holders instead of watching them */
        size_t live = bl_reg_holders(&w->reg, NULL, 0);
        if (live == 0)
            consider(w);
        return;
    }
    consider(w);
}

bl_reg_watch *bl_reg_watch_new(bl_loop *loop, const char *dir, void (*fn)(void *arg), void *arg,
                               bl_err *err)
{
    bl_reg_watch *w = calloc(1, sizeof *w);
    if (!w) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    if (bl_reg_init(&w->reg, dir, err) < 0) {
        free(w);
        return NULL;
    }
    w->loop = loop;
    w->fn = fn;
    w->arg = arg;
    w->pidfds = true;
    bl_loop_refresh_now(loop);
    rescan(w);
    w->rescan_timer = bl_loop_timer(loop, w->pidfds ? RESCAN_MS : RESCAN_NO_PIDFD_MS, on_rescan, w);
    if (!w->rescan_timer) {
        bl_reg_watch_free(w);
        bl_fail(err, "out of memory");
        return NULL;
    }
    return w;
}

size_t bl_reg_watch_count(const bl_reg_watch *w) { return w->n; }

void bl_reg_watch_free(bl_reg_watch *w)
{
    if (!w)
        return;
    while (w->n)
        drop(w, w->n - 1);
    free(w->v);
    if (w->rescan_timer)
        bl_loop_timer_cancel(w->loop, w->rescan_timer);
    if (w->retry_timer)
        bl_loop_timer_cancel(w->loop, w->retry_timer);
    if (w->fired || bl_reg_trylock(&w->reg, NULL) == 1)
        bl_reg_remove_all(&w->reg); /* unlocks; keeps everything while a holder lives */
    free(w);
}
