/* Tests for the epoll event loop: timer order and cancellation, re-entrant
 * callbacks, fd deletion and fd-number reuse during one dispatch batch,
 * signals through signalfd, stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/evloop.h"

static bl_loop *new_loop(void)
{
    bl_err err = {0};
    bl_loop *loop = bl_loop_new(&err);
    assert_non_null(loop);
    return loop;
}

/* ---- timers ---- */

typedef struct order_log {
    int seen[64];
    int n;
    int done_at;
} order_log;

typedef struct tag {
    order_log *log;
    int value;
} tag;

static void record_timer(bl_loop *loop, void *arg)
{
    tag *t = arg;
    t->log->seen[t->log->n++] = t->value;
}

static int all_fired(const order_log *log) { return log->n >= log->done_at; }

static void test_timer_order(void **state)
{
    bl_loop *loop = new_loop();
    order_log log = {.done_at = 4};
    tag a = {&log, 30}, b = {&log, 10}, c = {&log, 20}, d = {&log, 11};
    bl_loop_timer(loop, 30, record_timer, &a);
    bl_loop_timer(loop, 10, record_timer, &b);
    bl_loop_timer(loop, 20, record_timer, &c);
    bl_loop_timer(loop, 10, record_timer, &d);   /* same deadline as b: after b */
    int done = 0;
    for (int i = 0; i < 100 && !done; i++) {
        assert_true(bl_loop_run_once(loop, 50) >= 0);
        done = all_fired(&log);
    }
    assert_int_equal(log.n, 4);
    assert_int_equal(log.seen[0], 10);
    assert_int_equal(log.seen[1], 11);
    assert_int_equal(log.seen[2], 20);
    assert_int_equal(log.seen[3], 30);
    bl_loop_free(loop);
}

static void test_timer_waits(void **state)
{
    bl_loop *loop = new_loop();
    order_log log = {.done_at = 1};
    tag a = {&log, 1};
    uint64_t start = bl_loop_now_ms(loop);
    bl_loop_timer(loop, 40, record_timer, &a);
    while (log.n == 0)
        assert_true(bl_loop_run_once(loop, -1) >= 0);
    assert_true(bl_loop_now_ms(loop) - start >= 40);
    bl_loop_free(loop);
}

static void test_timer_cancel(void **state)
{
    bl_loop *loop = new_loop();
    order_log log = {.done_at = 2};
    tag a = {&log, 1}, b = {&log, 2}, c = {&log, 3};
    uint64_t ia = bl_loop_timer(loop, 5, record_timer, &a);
    uint64_t ib = bl_loop_timer(loop, 1, record_timer, &b);
    uint64_t ic = bl_loop_timer(loop, 3, record_timer, &c);
    assert_true(ia && ib && ic && ia != ib && ib != ic);
    bl_loop_timer_cancel(loop, ib);
    bl_loop_timer_cancel(loop, ib);       /* twice: harmless */
    bl_loop_timer_cancel(loop, 0);
    bl_loop_timer_cancel(loop, 0xdeadbeef12345ULL);
    for (int i = 0; i < 100 && log.n < 2; i++)
        assert_true(bl_loop_run_once(loop, 20) >= 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.seen[0], 3);
    assert_int_equal(log.seen[1], 1);
    /* ia fired: its slot may now be reused, yet cancelling the old id must
     * not touch the new timer. */
    uint64_t id2 = bl_loop_timer(loop, 0, record_timer, &b);
    bl_loop_timer_cancel(loop, ia);
    bl_loop_timer_cancel(loop, ic);
    assert_true(id2 != ia && id2 != ic);
    assert_true(bl_loop_run_once(loop, 20) >= 1);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.seen[2], 2);
    bl_loop_free(loop);
}

/* A timer that cancels another timer due in the same pass. */
typedef struct canceller {
    uint64_t victim;
    int fired, victim_fired;
} canceller;

static void cancel_other(bl_loop *loop, void *arg)
{
    canceller *c = arg;
    c->fired++;
    bl_loop_timer_cancel(loop, c->victim);
}

static void victim_cb(bl_loop *loop, void *arg) { ((canceller *)arg)->victim_fired++; }

static void test_timer_cancel_from_callback(void **state)
{
    bl_loop *loop = new_loop();
    canceller c = {0};
    bl_loop_timer(loop, 0, cancel_other, &c);
    c.victim = bl_loop_timer(loop, 0, victim_cb, &c);
    for (int i = 0; i < 5; i++)
        assert_true(bl_loop_run_once(loop, 5) >= 0);
    assert_int_equal(c.fired, 1);
    assert_int_equal(c.victim_fired, 0);
    bl_loop_free(loop);
}

/* A 0 ms timer that re-arms itself runs once per iteration, never spins. */
static void rearm(bl_loop *loop, void *arg)
{
    int *n = arg;
    if (++*n < 1000)
        bl_loop_timer(loop, 0, rearm, arg);
}

static void test_timer_rearm_zero(void **state)
{
    bl_loop *loop = new_loop();
    int n = 0;
    bl_loop_timer(loop, 0, rearm, &n);
    assert_int_equal(bl_loop_run_once(loop, 0), 1);
    assert_int_equal(n, 1);
    assert_int_equal(bl_loop_run_once(loop, 0), 1);
    assert_int_equal(n, 2);
    bl_loop_free(loop);
}

/* Thousands of timers with random deadlines, half of them cancelled: the
 * survivors fire in (deadline, creation) order. */
typedef struct many {
    uint64_t deadline;
    int index;
    int fired;
    struct many_log *log;
} many;

typedef struct many_log {
    int order[4096];
    int n;
} many_log;

static void many_cb(bl_loop *loop, void *arg)
{
    many *m = arg;
    m->fired++;
    m->log->order[m->log->n++] = m->index;
}

static void test_timer_many(void **state)
{
    enum { N = 4000 };
    bl_loop *loop = new_loop();
    static many m[N];
    static uint64_t ids[N];
    static many_log log;
    memset(&log, 0, sizeof log);
    srand(1234);
    bl_loop_refresh_now(loop);
    uint64_t now = bl_loop_now_ms(loop);
    for (int i = 0; i < N; i++) {
        uint64_t ms = (uint64_t)(rand() % 40);
        m[i] = (many){.deadline = now + ms, .index = i, .log = &log};
        ids[i] = bl_loop_timer(loop, ms, many_cb, &m[i]);
        assert_true(ids[i] != 0);
    }
    for (int i = 0; i < N; i += 2)
        bl_loop_timer_cancel(loop, ids[i]);
    for (int i = 0; i < 200 && log.n < N / 2; i++)
        assert_true(bl_loop_run_once(loop, 20) >= 0);
    assert_int_equal(log.n, N / 2);
    for (int i = 0; i < N; i++)
        assert_int_equal(m[i].fired, i % 2);
    for (int k = 1; k < log.n; k++) {
        const many *p = &m[log.order[k - 1]], *q = &m[log.order[k]];
        assert_true(p->deadline < q->deadline || (p->deadline == q->deadline && p->index < q->index));
    }
    bl_loop_free(loop);
}

/* ---- file descriptors ---- */

typedef struct pipe_peer {
    int rfd, wfd;
    int calls;
    struct pipe_peer *other;
    int *reused_calls;
    int fresh[2];
} pipe_peer;

static void reused_cb(bl_loop *loop, int fd, unsigned ev, void *arg) { ++*(int *)arg; }

/* Delete the other pipe's fd, then make its number point to an empty pipe
 * registered with another callback: the batch's stale event for that number
 * must reach neither callback. */
static void delete_other(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    pipe_peer *p = arg;
    p->calls++;
    pipe_peer *o = p->other;
    bl_loop_del(loop, o->rfd);
    assert_int_equal(pipe(p->fresh), 0);
    assert_true(dup2(p->fresh[0], o->rfd) == o->rfd);
    bl_err err = {0};
    assert_int_equal(bl_loop_add(loop, o->rfd, BL_EV_READ, reused_cb, p->reused_calls, &err), 0);
    /* And drain ourselves so we are not readable next time. */
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
}

static void test_fd_delete_during_dispatch(void **state)
{
    bl_loop *loop = new_loop();
    int pa[2], pb[2], reused = 0;
    assert_int_equal(pipe(pa), 0);
    assert_int_equal(pipe(pb), 0);
    pipe_peer a = {pa[0], pa[1], 0, NULL, &reused, {-1, -1}};
    pipe_peer b = {pb[0], pb[1], 0, NULL, &reused, {-1, -1}};
    a.other = &b;
    b.other = &a;
    bl_err err = {0};
    assert_int_equal(bl_loop_add(loop, a.rfd, BL_EV_READ, delete_other, &a, &err), 0);
    assert_int_equal(bl_loop_add(loop, b.rfd, BL_EV_READ, delete_other, &b, &err), 0);
    assert_int_equal(write(a.wfd, "x", 1), 1);
    assert_int_equal(write(b.wfd, "x", 1), 1);
    assert_int_equal(bl_loop_run_once(loop, 100), 1);
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(reused, 0);
    /* The reused number now works for its new owner. */
    pipe_peer *w = a.calls ? &a : &b;
    assert_int_equal(write(w->fresh[1], "y", 1), 1);
    assert_int_equal(bl_loop_run_once(loop, 100), 1);
    assert_int_equal(reused, 1);
    bl_loop_del(loop, a.rfd);
    bl_loop_del(loop, b.rfd);
    int fds[] = {pa[0], pa[1], pb[0], pb[1], a.fresh[0], a.fresh[1], b.fresh[0], b.fresh[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    bl_loop_free(loop);
}

typedef struct self_del {
    int calls;
    unsigned last;
} self_del;

static void delete_self(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    self_del *s = arg;
    s->calls++;
    s->last = ev;
    bl_loop_del(loop, fd);
    close(fd);
}

static void test_fd_delete_self_and_hup(void **state)
{
    bl_loop *loop = new_loop();
    int p[2];
    assert_int_equal(pipe(p), 0);
    self_del s = {0};
    bl_err err = {0};
    assert_int_equal(bl_loop_add(loop, p[0], BL_EV_READ, delete_self, &s, &err), 0);
    close(p[1]);   /* reader sees hang-up */
    assert_int_equal(bl_loop_run_once(loop, 100), 1);
    assert_int_equal(s.calls, 1);
    assert_true(s.last & (BL_EV_ERROR | BL_EV_READ));
    assert_int_equal(bl_loop_run_once(loop, 10), 0);
    assert_int_equal(s.calls, 1);
    bl_loop_free(loop);
}

static void count_cb(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    unsigned *n = arg;
    n[0]++;
    n[1] = ev;
}

static void test_fd_mod_and_errors(void **state)
{
    bl_loop *loop = new_loop();
    int p[2];
    assert_int_equal(pipe(p), 0);
    unsigned n[2] = {0};
    bl_err err = {0};
    assert_int_equal(bl_loop_add(loop, p[1], BL_EV_WRITE, count_cb, n, &err), 0);
    assert_int_equal(bl_loop_add(loop, p[1], BL_EV_READ, count_cb, n, &err), -1);
    assert_non_null(strstr(err.msg, "already registered"));
    assert_int_equal(bl_loop_add(loop, -1, BL_EV_READ, count_cb, n, &err), -1);
    assert_int_equal(bl_loop_run_once(loop, 100), 1);
    assert_int_equal(n[0], 1);
    assert_int_equal(n[1], BL_EV_WRITE);
    assert_int_equal(bl_loop_mod(loop, p[1], 0), 0);
    assert_int_equal(bl_loop_run_once(loop, 10), 0);
    assert_int_equal(n[0], 1);
    assert_int_equal(bl_loop_mod(loop, p[0], BL_EV_READ), -1);   /* not registered */
    bl_loop_del(loop, p[1]);
    bl_loop_del(loop, p[1]);   /* twice: harmless */
    /* A large fd number grows the table. */
    int big = fcntl(p[0], F_DUPFD_CLOEXEC, 900);
    assert_true(big >= 900);
    assert_int_equal(bl_loop_add(loop, big, BL_EV_READ, count_cb, n, &err), 0);
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(bl_loop_run_once(loop, 100), 1);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], BL_EV_READ);
    bl_loop_del(loop, big);
    close(big);
    close(p[0]);
    close(p[1]);
    bl_loop_free(loop);
}

/* ---- signals and stop ---- */

static void on_sig(bl_loop *loop, int signo, void *arg)
{
    *(int *)arg = signo;
    bl_loop_stop(loop);
}

static void test_signal(void **state)
{
    bl_loop *loop = new_loop();
    int got = 0;
    bl_err err = {0};
    assert_int_equal(bl_loop_signal(loop, SIGUSR1, on_sig, &got, &err), 0);
    assert_int_equal(bl_loop_signal(loop, SIGUSR2, on_sig, &got, &err), 0);
    assert_int_equal(bl_loop_signal(loop, SIGKILL, on_sig, &got, &err), -1);
    raise(SIGUSR2);
    assert_int_equal(bl_loop_run(loop), 0);   /* handler stops the loop */
    assert_int_equal(got, SIGUSR2);
    raise(SIGUSR1);
    assert_int_equal(bl_loop_run(loop), 0);
    assert_int_equal(got, SIGUSR1);
    bl_loop_free(loop);
}

static void stop_cb(bl_loop *loop, void *arg)
{
    ++*(int *)arg;
    bl_loop_stop(loop);
}

static void test_stop_from_timer(void **state)
{
    bl_loop *loop = new_loop();
    int n = 0;
    bl_loop_timer(loop, 5, stop_cb, &n);
    assert_int_equal(bl_loop_run(loop), 0);
    assert_int_equal(n, 1);
    bl_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_timer_waits),
        cmocka_unit_test(test_timer_cancel),
        cmocka_unit_test(test_timer_cancel_from_callback),
        cmocka_unit_test(test_timer_rearm_zero),
        cmocka_unit_test(test_timer_many),
        cmocka_unit_test(test_fd_delete_during_dispatch),
        cmocka_unit_test(test_fd_delete_self_and_hup),
        cmocka_unit_test(test_fd_mod_and_errors),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_stop_from_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
