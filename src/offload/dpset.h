/* dpset: the client side's connections to a list of depots, the one
 * piece push, pull and status share.
 *
 * Every depot is named "host:port" (resolved once, here, at start-up) and
 * is in one of three states: CONNECTING (TCP connect and the handshake of
 * dpconn), READY (authenticated: messages flow) or DOWN (with one line
 * saying why: unresolvable, refused, wrong key, timed out, closed).  A depot
 * goes DOWN at most once and stays down.  Two timeouts guard against a
 * depot that says nothing: the handshake must finish within timeout_ms, and
 * a READY depot the owner is waiting on (bl_dpset_waiting > 0) must send
 * something at least every timeout_ms.  Callbacks never run inside
 * bl_dpset_new; `down` runs for every depot that goes down, also for those
 * that were never reached, and never after bl_dpset_free, which must be
 * called outside the set's callbacks (stop the loop, then free). */
#ifndef BL_OFFLOAD_DPSET_H
#define BL_OFFLOAD_DPSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/evloop.h"
#include "offload/dpconn.h"

typedef struct bl_dpset bl_dpset;

enum bl_dpset_state { BL_DPSET_CONNECTING, BL_DPSET_READY, BL_DPSET_DOWN };

typedef struct bl_dpset_ops {
    void (*ready)(bl_dpset *s, size_t i, void *arg);
    void (*msg)(bl_dpset *s, size_t i, const bl_dp_msg *m, void *arg);
    void (*down)(bl_dpset *s, size_t i, const char *why, void *arg);
} bl_dpset_ops;

/* Start connecting to names[0..n) as role with key for offload id. */
bl_dpset *bl_dpset_new(bl_loop *loop, const char *const *names, size_t n, uint8_t role,
                       const bl_okey *key, const uint8_t id[BL_OFFLOAD_ID_LEN],
                       unsigned timeout_ms, const bl_dpset_ops *ops, void *arg, bl_err *err);
void bl_dpset_free(bl_dpset *s);

size_t bl_dpset_count(const bl_dpset *s);
const char *bl_dpset_name(const bl_dpset *s, size_t i);
enum bl_dpset_state bl_dpset_state(const bl_dpset *s, size_t i);
/* Why depot i is down ("" while it is not). */
const char *bl_dpset_why(const bl_dpset *s, size_t i);
/* Depots still connecting. */
size_t bl_dpset_connecting(const bl_dpset *s);
/* The connection of a READY depot (NULL otherwise): append frames to
 * bl_dpconn_out() and bl_dpconn_flush(). */
bl_dpconn *bl_dpset_conn(bl_dpset *s, size_t i);
/* How many answers the owner awaits from depot i (0: silence is fine). */
void bl_dpset_waiting(bl_dpset *s, size_t i, unsigned n);
/* Take depot i down (if it is not) with why: `down` runs. */
void bl_dpset_drop(bl_dpset *s, size_t i, const char *why);

#endif
