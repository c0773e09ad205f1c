/* evloop: the one event loop of a bitlib process (epoll), after Redis's ae.
 *
 * It owns file-descriptor readiness callbacks, one-shot millisecond timers
 * and signals (via signalfd), all run on the calling thread: no locks.  Time
 * is CLOCK_MONOTONIC in milliseconds, sampled once per iteration
 * (bl_loop_now_ms), so policies driven by the loop can also be driven by a
 * simulated clock.  Callbacks may add or delete any fd or timer, including
 * their own, and may call bl_loop_stop(). */
#ifndef BL_CORE_EVLOOP_H
#define BL_CORE_EVLOOP_H

#include <stdint.h>

#include "core/err.h"

enum { BL_EV_READ = 1u << 0, BL_EV_WRITE = 1u << 1, BL_EV_ERROR = 1u << 2 /* HUP/ERR */ };

typedef struct bl_loop bl_loop;
typedef void (*bl_io_fn)(bl_loop *loop, int fd, unsigned events, void *arg);
typedef void (*bl_timer_fn)(bl_loop *loop, void *arg);
typedef void (*bl_signal_fn)(bl_loop *loop, int signo, void *arg);

bl_loop *bl_loop_new(bl_err *err);
/* Frees the loop; fds registered are not closed (their owners close them). */
void bl_loop_free(bl_loop *loop);

/* Watch fd for events (BL_EV_READ|BL_EV_WRITE); BL_EV_ERROR is always
 * reported.  One registration per fd; bl_loop_mod changes the mask. */
int bl_loop_add(bl_loop *loop, int fd, unsigned events, bl_io_fn fn, void *arg, bl_err *err);
int bl_loop_mod(bl_loop *loop, int fd, unsigned events);
void bl_loop_del(bl_loop *loop, int fd);

/* One-shot timer after ms milliseconds; returns an id > 0 (0 on OOM). */
uint64_t bl_loop_timer(bl_loop *loop, uint64_t ms, bl_timer_fn fn, void *arg);
/* Cancelling an id that already fired or never existed is harmless. */
void bl_loop_timer_cancel(bl_loop *loop, uint64_t id);

/* Deliver signo through the loop (blocks it for the process; it stays
 * blocked after bl_loop_free).  Calling again for the same signo replaces
 * the handler. */
int bl_loop_signal(bl_loop *loop, int signo, bl_signal_fn fn, void *arg, bl_err *err);

/* The loop's clock: sampled when the loop is created and once per
 * iteration (right after epoll_wait returns).  Timer deadlines are
 * now_ms + ms, so code that arms timers long after the last iteration
 * (setup before bl_loop_run) may call bl_loop_refresh_now() first. */
uint64_t bl_loop_now_ms(const bl_loop *loop);
void bl_loop_refresh_now(bl_loop *loop);
/* Run until bl_loop_stop(); returns 0, or -1 if epoll itself fails.
 * A stop requested before bl_loop_run is called is forgotten. */
int bl_loop_run(bl_loop *loop);
/* One iteration waiting at most timeout_ms (-1: until something happens;
 * the wait is shortened to the earliest timer).  Dispatches ready fds, then
 * due timers (a timer armed during this pass fires at the earliest on the
 * next one).  Returns the number of callbacks run, or -1 if epoll fails. */
int bl_loop_run_once(bl_loop *loop, int timeout_ms);
void bl_loop_stop(bl_loop *loop);

#endif
