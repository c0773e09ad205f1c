/* dpconn: one depot-protocol connection on the event loop.
 *
 * Buffers frames in both directions (reads are bounded by
 * BL_DP_MAX_FRAME), hands each parsed message to on_msg, and reports the end
 * of the connection once through on_close, after which the connection is
 * freed by this module (the owner drops its pointer in on_close).  Callers
 * append frames to bl_dpconn_out() and call bl_dpconn_flush().
 * A client connection made with bl_dpconn_connect does the handshake of its
 * role first and calls on_ready when the depot has proved it holds the key;
 * on_msg then sees every later message. */
#ifndef BL_OFFLOAD_DPCONN_H
#define BL_OFFLOAD_DPCONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/evloop.h"
#include "offload/depotproto.h"

typedef struct bl_dpconn bl_dpconn;

typedef struct bl_dpconn_ops {
    void (*on_ready)(bl_dpconn *c, void *arg);                     /* clients only */
    void (*on_msg)(bl_dpconn *c, const bl_dp_msg *m, void *arg);
    void (*on_close)(bl_dpconn *c, const char *why, void *arg);    /* why: one line */
} bl_dpconn_ops;

/* An accepted socket (the depot's side). */
bl_dpconn *bl_dpconn_accepted(bl_loop *loop, int fd, const bl_dpconn_ops *ops, void *arg,
                              bl_err *err);
/* Connect to a depot and authenticate as role for offload id with key. */
bl_dpconn *bl_dpconn_connect(bl_loop *loop, const struct sockaddr *sa, socklen_t salen,
                             uint8_t role, const bl_okey *key,
                             const uint8_t id[BL_OFFLOAD_ID_LEN], const bl_dpconn_ops *ops,
                             void *arg, bl_err *err);

bl_buf *bl_dpconn_out(bl_dpconn *c);
void bl_dpconn_flush(bl_dpconn *c);
/* Bytes queued and not yet handed to the kernel. */
size_t bl_dpconn_pending(const bl_dpconn *c);
/* Bytes handed to the kernel so far. */
uint64_t bl_dpconn_sent(const bl_dpconn *c);
/* End the connection: on_close(why) runs (now, or when the current
 * callback returns) and the connection is freed. */
void bl_dpconn_close(bl_dpconn *c, const char *why);
/* Send queued frames (an ERROR, say) before closing: closes once written. */
void bl_dpconn_close_after_flush(bl_dpconn *c, const char *why);

#endif
