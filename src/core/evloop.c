/* evloop: epoll (level-triggered), a timer heap and one signalfd.
 *
 * Safety during dispatch rests on one idea: every fd registration gets a
 * fresh 32-bit generation number which travels in the epoll event data next
 * to the fd.  An event from a batch is dispatched only if the fd is still
 * registered under the same generation, so deleting an fd (or deleting it
 * and registering the same number again) inside a callback never delivers a
 * stale event.
 *
 * Timers live in slots (stable, reused through a free list); the heap holds
 * slot numbers ordered by (deadline, seq) and each slot knows its heap
 * position, so cancel is O(log n).  A timer id is (slot generation << 32 |
 * slot + 1): an id that already fired or was cancelled no longer matches its
 * slot's generation, which makes cancelling it harmless. */
#include "core/evloop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

typedef struct fd_slot {
    bl_io_fn fn;        /* NULL: not registered */
    void *arg;
    unsigned mask;
    uint32_t gen;
} fd_slot;

typedef struct timer_slot {
    uint64_t deadline;  /* ms, CLOCK_MONOTONIC */
    uint64_t seq;       /* creation order: ties fire first-added first */
    bl_timer_fn fn;     /* NULL: free slot */
    void *arg;
    uint32_t gen;
    uint32_t heap_pos;  /* index in loop->heap while armed */
    uint32_t next_free;
} timer_slot;

typedef struct sig_handler {
    bl_signal_fn fn;
    void *arg;
} sig_handler;

struct bl_loop {
    int epfd;
    bool stop;
    uint64_t now;

    fd_slot *fds;
    size_t nfds_cap;
    uint32_t fd_gen;

    timer_slot *timers;
    uint32_t ntimer_slots, timer_free; /* free list head, UINT32_MAX: empty */
    uint32_t *heap;
    uint32_t heap_len, heap_cap;
    uint64_t timer_seq;

    int sigfd;
    sigset_t sigs;
    sig_handler sig[_NSIG];

    struct epoll_event events[MAX_EVENTS];
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bl_loop *bl_loop_new(bl_err *err)
{
    bl_loop *loop = calloc(1, sizeof *loop);
    if (!loop) {
        bl_fail(err, "event loop: out of memory");
        return NULL;
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        bl_fail(err, "event loop: epoll_create1: %s", strerror(errno));
        free(loop);
        return NULL;
    }
    loop->sigfd = -1;
    sigemptyset(&loop->sigs);
    loop->timer_free = UINT32_MAX;
    loop->now = monotonic_ms();
    return loop;
}

void bl_loop_free(bl_loop *loop)
{
    if (!loop)
        return;
    if (loop->sigfd >= 0)
        close(loop->sigfd);
    close(loop->epfd);
    free(loop->fds);
    free(loop->timers);
    free(loop->heap);
    free(loop);
}

/* ---- file descriptors ---- */

static uint32_t epoll_mask(unsigned events)
{
    uint32_t m = 0;
    if (events & BL_EV_READ)
        m |= EPOLLIN | EPOLLRDHUP;
    if (events & BL_EV_WRITE)
        m |= EPOLLOUT;
    return m;
}

static bool fd_registered(const bl_loop *loop, int fd)
{
    return fd >= 0 && (size_t)fd < loop->nfds_cap && loop->fds[fd].fn != NULL;
}

static int epoll_set(bl_loop *loop, int op, int fd)
{
    struct epoll_event ev = {0};
    ev.events = epoll_mask(loop->fds[fd].mask);
    ev.data.u64 = ((uint64_t)loop->fds[fd].gen << 32) | (uint32_t)fd;
    return epoll_ctl(loop->epfd, op, fd, &ev);
}

int bl_loop_add(bl_loop *loop, int fd, unsigned events, bl_io_fn fn, void *arg, bl_err *err)
{
    if (fd < 0 || !fn)
        return bl_fail(err, "event loop: bad registration (fd %d)", fd);
    if (fd_registered(loop, fd))
        return bl_fail(err, "event loop: fd %d is already registered", fd);
    if ((size_t)fd >= loop->nfds_cap) {
        size_t cap = loop->nfds_cap ? loop->nfds_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        fd_slot *p = realloc(loop->fds, cap * sizeof *p);
        if (!p)
            return bl_fail(err, "event loop: out of memory for fd %d", fd);
        memset(p + loop->nfds_cap, 0, (cap - loop->nfds_cap) * sizeof *p);
        loop->fds = p;
        loop->nfds_cap = cap;
    }
    fd_slot *s = &loop->fds[fd];
    s->fn = fn;
    s->arg = arg;
    s->mask = events & (BL_EV_READ | BL_EV_WRITE);
    s->gen = ++loop->fd_gen;
    if (epoll_set(loop, EPOLL_CTL_ADD, fd) < 0) {
        int e = errno;
        s->fn = NULL;
        return bl_fail(err, "event loop: epoll_ctl add fd %d: %s", fd, strerror(e));
    }
    return 0;
}

int bl_loop_mod(bl_loop *loop, int fd, unsigned events)
{
    if (!fd_registered(loop, fd)) {
        errno = ENOENT;
        return -1;
    }
    loop->fds[fd].mask = events & (BL_EV_READ | BL_EV_WRITE);
    return epoll_set(loop, EPOLL_CTL_MOD, fd) < 0 ? -1 : 0;
}

void bl_loop_del(bl_loop *loop, int fd)
{
    if (!fd_registered(loop, fd))
        return;
    /* The owner may already have closed fd (epoll then dropped it): ignore. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->fds[fd].fn = NULL;
    loop->fds[fd].arg = NULL;
}

/* ---- timers ---- */

static bool timer_before(const bl_loop *loop, uint32_t a, uint32_t b)
{
    const timer_slot *x = &loop->timers[a], *y = &loop->timers[b];
    return x->deadline != y->deadline ? x->deadline < y->deadline : x->seq < y->seq;
}

static void heap_place(bl_loop *loop, uint32_t pos, uint32_t slot)
{
    loop->heap[pos] = slot;
    loop->timers[slot].heap_pos = pos;
}

static void heap_up(bl_loop *loop, uint32_t pos)
{
    uint32_t slot = loop->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!timer_before(loop, slot, loop->heap[parent]))
            break;
        heap_place(loop, pos, loop->heap[parent]);
        pos = parent;
    }
    heap_place(loop, pos, slot);
}

static void heap_down(bl_loop *loop, uint32_t pos)
{
    uint32_t slot = loop->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len && timer_before(loop, loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop, loop->heap[child], slot))
            break;
        heap_place(loop, pos, loop->heap[child]);
        pos = child;
    }
    heap_place(loop, pos, slot);
}

static void heap_remove(bl_loop *loop, uint32_t pos)
{
    uint32_t last = loop->heap[--loop->heap_len];
    if (pos == loop->heap_len)
        return;
    loop->heap[pos] = last;
    loop->timers[last].heap_pos = pos;
    heap_down(loop, pos);
    heap_up(loop, loop->timers[last].heap_pos);
}

static void timer_slot_release(bl_loop *loop, uint32_t slot)
{
    timer_slot *t = &loop->timers[slot];
    t->fn = NULL;
    t->arg = NULL;
    t->gen++;
    if (t->gen == 0)    /* keep ids non-zero after wrap-around */
        t->gen = 1;
    t->next_free = loop->timer_free;
    loop->timer_free = slot;
}

uint64_t bl_loop_timer(bl_loop *loop, uint64_t ms, bl_timer_fn fn, void *arg)
{
    if (!fn)
        return 0;
    if (loop->timer_free == UINT32_MAX) {
        if (loop->ntimer_slots == UINT32_MAX - 1)
            return 0;
        uint32_t cap = loop->ntimer_slots ? loop->ntimer_slots * 2 : 64;
        if (cap < loop->ntimer_slots || cap >= UINT32_MAX)
            cap = UINT32_MAX - 1;
        timer_slot *ts = realloc(loop->timers, (size_t)cap * sizeof *ts);
        if (!ts)
            return 0;
        loop->timers = ts;
        uint32_t *h = realloc(loop->heap, (size_t)cap * sizeof *h);
        if (!h)
            return 0;
        loop->heap = h;
        loop->heap_cap = cap;
        for (uint32_t i = cap; i-- > loop->ntimer_slots;) {
            memset(&ts[i], 0, sizeof ts[i]);
            ts[i].gen = 1;
            ts[i].next_free = loop->timer_free;
            loop->timer_free = i;
        }
        loop->ntimer_slots = cap;
    }
    uint32_t slot = loop->timer_free;
    timer_slot *t = &loop->timers[slot];
    loop->timer_free = t->next_free;
    t->deadline = ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + ms;
    t->seq = ++loop->timer_seq;
    t->fn = fn;
    t->arg = arg;
    loop->heap[loop->heap_len++] = slot;
    heap_up(loop, loop->heap_len - 1);
    return ((uint64_t)t->gen << 32) | (slot + 1u);
}

void bl_loop_timer_cancel(bl_loop *loop, uint64_t id)
{
    uint32_t slot1 = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (slot1 == 0 || slot1 > loop->ntimer_slots)
        return;
    uint32_t slot = slot1 - 1;
    timer_slot *t = &loop->timers[slot];
    if (!t->fn || t->gen != gen)
        return;
    heap_remove(loop, t->heap_pos);
    timer_slot_release(loop, slot);
}

/* Fire the timers due at loop->now that existed before this pass began, so
 * a callback re-arming itself with 0 ms runs on the next iteration instead
 * of spinning here forever. */
static int run_timers(bl_loop *loop)
{
    uint64_t last_seq = loop->timer_seq;
    int fired = 0;
    while (loop->heap_len > 0) {
        uint32_t slot = loop->heap[0];
        timer_slot *t = &loop->timers[slot];
        if (t->deadline > loop->now || t->seq > last_seq)
            break;
        bl_timer_fn fn = t->fn;
        void *arg = t->arg;
        heap_remove(loop, 0);
        timer_slot_release(loop, slot);  /* before the call: it may re-arm */
        fn(loop, arg);
        fired++;
    }
    return fired;
}

/* ---- signals ---- */

static void on_signalfd(bl_loop *loop, int fd, unsigned events, void *arg)
{
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(fd, si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            unsigned signo = si[i].ssi_signo;
            if (signo < _NSIG && loop->sig[signo].fn)
                loop->sig[signo].fn(loop, (int)signo, loop->sig[signo].arg);
        }
    }
}

int bl_loop_signal(bl_loop *loop, int signo, bl_signal_fn fn, void *arg, bl_err *err)
{
    if (signo <= 0 || signo >= _NSIG || !fn || signo == SIGKILL || signo == SIGSTOP)
        return bl_fail(err, "event loop: cannot handle signal %d", signo);
    sigset_t set = loop->sigs;
    sigaddset(&set, signo);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
        return bl_fail(err, "event loop: blocking signal %d: %s", signo, strerror(errno));
    int fd = signalfd(loop->sigfd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return bl_fail(err, "event loop: signalfd: %s", strerror(errno));
    if (loop->sigfd < 0) {
        if (bl_loop_add(loop, fd, BL_EV_READ, on_signalfd, NULL, err) < 0) {
            close(fd);
            return -1;
        }
        loop->sigfd = fd;
    }
    loop->sigs = set;
    loop->sig[signo].fn = fn;
    loop->sig[signo].arg = arg;
    return 0;
}

/* ---- running ---- */

uint64_t bl_loop_now_ms(const bl_loop *loop) { return loop->now; }

void bl_loop_refresh_now(bl_loop *loop) { loop->now = monotonic_ms(); }

void bl_loop_stop(bl_loop *loop) { loop->stop = true; }

int bl_loop_run_once(bl_loop *loop, int timeout_ms)
{
    int wait = timeout_ms;
    if (loop->heap_len > 0) {
        uint64_t now = monotonic_ms();
        uint64_t due = loop->timers[loop->heap[0]].deadline;
        uint64_t until = due > now ? due - now : 0;
        if (until > INT_MAX)
            until = INT_MAX;
        if (wait < 0 || (uint64_t)wait > until)
            wait = (int)until;
    }
    int n = epoll_wait(loop->epfd, loop->events, MAX_EVENTS, wait);
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    loop->now = monotonic_ms();

    int ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)loop->events[i].data.u64;
        uint32_t gen = (uint32_t)(loop->events[i].data.u64 >> 32);
        /* Deleted (or deleted and re-added) by an earlier callback. */
        if (!fd_registered(loop, fd) || loop->fds[fd].gen != gen)
            continue;
        uint32_t e = loop->events[i].events;
        unsigned mask = loop->fds[fd].mask, ev = 0;
        if ((e & (EPOLLIN | EPOLLRDHUP)) && (mask & BL_EV_READ))
            ev |= BL_EV_READ;
        if ((e & EPOLLOUT) && (mask & BL_EV_WRITE))
            ev |= BL_EV_WRITE;
        if (e & (EPOLLERR | EPOLLHUP))
            ev |= BL_EV_ERROR;
        if (!ev)
            continue;
        loop->fds[fd].fn(loop, fd, ev, loop->fds[fd].arg);
        ran++;
    }
    return ran + run_timers(loop);
}

int bl_loop_run(bl_loop *loop)
{
    loop->stop = false;
    while (!loop->stop)
        if (bl_loop_run_once(loop, -1) < 0)
            return -1;
    loop->stop = false;
    return 0;
}
