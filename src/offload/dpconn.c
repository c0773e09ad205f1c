/* dpconn: framed depot connections on the event loop (see dpconn.h). */
#include "offload/dpconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/net.h"

enum state { ST_CONNECTING, ST_HELLO, ST_AUTH_SENT, ST_OPEN };

struct bl_dpconn {
    bl_loop *loop;
    int fd;
    enum state st;
    bl_buf in, out;
    size_t out_off;        /* bytes of out already written */
    uint64_t sent;
    bl_dpconn_ops ops;
    void *arg;
    unsigned events;
    int busy;              /* inside a callback: closing is deferred */
    bool closing, close_after_flush;
    char why[256];
    /* client handshake */
    uint8_t role;
    bl_okey key;
    uint8_t id[BL_OFFLOAD_ID_LEN];
    uint8_t depot_nonce[BL_DP_NONCE_LEN], my_nonce[BL_DP_NONCE_LEN];
};

static void finish(bl_dpconn *c)
{
    bl_loop_del(c->loop, c->fd);
    close(c->fd);
    c->ops.on_close(c, c->why, c->arg);
    bl_buf_free(&c->in);
    bl_buf_free(&c->out);
    memset(&c->key, 0, sizeof c->key);
    free(c);
}

/* why may be c->why itself (a close passed on from a close), hence memmove */
static void set_why(bl_dpconn *c, const char *why)
{
    size_t n = strnlen(why, sizeof c->why - 1);
    memmove(c->why, why, n);
    c->why[n] = '\0';
}

void bl_dpconn_close(bl_dpconn *c, const char *why)
{
    if (!c->closing)
        set_why(c, why);
    c->closing = true;
    if (!c->busy)
        finish(c);
}

void bl_dpconn_close_after_flush(bl_dpconn *c, const char *why)
{
    set_why(c, why);
    c->close_after_flush = true;
    bl_dpconn_flush(c);
}

bl_buf *bl_dpconn_out(bl_dpconn *c) { return &c->out; }
size_t bl_dpconn_pending(const bl_dpconn *c) { return c->out.len - c->out_off; }
uint64_t bl_dpconn_sent(const bl_dpconn *c) { return c->sent; }

static void want(bl_dpconn *c, unsigned ev)
{
    if (ev != c->events) {
        c->events = ev;
        bl_loop_mod(c->loop, c->fd, ev);
    }
}

static void write_some(bl_dpconn *c)
{
    if (c->out.oom) {
        bl_dpconn_close(c, "out of memory");
        return;
    }
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            char why[128];
            snprintf(why, sizeof why, "send: %s", strerror(errno));
            bl_dpconn_close(c, why);
            return;
        }
        c->out_off += (size_t)n;
        c->sent += (uint64_t)n;
    }
    if (c->out_off == c->out.len) {
        bl_buf_reset(&c->out);
        c->out_off = 0;
        if (c->close_after_flush) {
            bl_dpconn_close(c, c->why);
            return;
        }
    } else if (c->out_off > (1u << 20) && c->out_off > c->out.len / 2) {
        bl_buf_consume(&c->out, c->out_off);   /* keep the buffer from growing */
        c->out_off = 0;
    }
    unsigned ev = c->close_after_flush ? 0 : BL_EV_READ;
    if (c->out_off < c->out.len)
        ev |= BL_EV_WRITE;
    want(c, ev);
}

void bl_dpconn_flush(bl_dpconn *c)
{
    if (c->st == ST_CONNECTING || c->closing)
        return;
    c->busy++;
    write_some(c);
    c->busy--;
    if (c->closing && !c->busy)
        finish(c);
}

static void handshake(bl_dpconn *c, const bl_dp_msg *m)
{
    if (c->st == ST_HELLO) {
        if (m->type != BL_DP_HELLO) {
            bl_dpconn_close(c, "depot protocol: expected HELLO");
            return;
        }
        memcpy(c->depot_nonce, m->nonce, BL_DP_NONCE_LEN);
        bl_err err;
        if (bl_random(c->my_nonce, sizeof c->my_nonce, &err) < 0) {
            bl_dpconn_close(c, err.msg);
            return;
        }
        uint8_t mac[BL_SHA256_LEN];
        bl_dp_client_mac(&c->key, c->role, c->id, c->depot_nonce, c->my_nonce, mac);
        bl_dp_auth(&c->out, c->role, c->id, c->my_nonce, mac);
        c->st = ST_AUTH_SENT;
        write_some(c);
        return;
    }
    if (m->type == BL_DP_ERROR) {
        char why[BL_DP_MAX_TEXT + 32];
        snprintf(why, sizeof why, "depot refused: %.*s", (int)m->len, (const char *)m->data);
        for (char *p = why; *p; p++)
            if (*p < 32 || *p > 126)
                *p = '?';
        bl_dpconn_close(c, why);
        return;
    }
    uint8_t mac[BL_SHA256_LEN];
    bl_dp_depot_mac(&c->key, c->role, c->id, c->depot_nonce, c->my_nonce, mac);
    if (m->type != BL_DP_AUTH_OK || !bl_digest_eq(mac, m->mac, sizeof mac)) {
        bl_dpconn_close(c, "depot failed to prove it holds the key (wrong key, or not this offload's depot)");
        return;
    }
    c->st = ST_OPEN;
    memset(&c->key, 0, sizeof c->key);
    if (c->ops.on_ready)
        c->ops.on_ready(c, c->arg);
}

static void read_some(bl_dpconn *c)
{
    for (int rounds = 0; rounds < 16 && !c->closing; rounds++) {
        if (!bl_buf_reserve(&c->in, 256 * 1024)) {
            bl_dpconn_close(c, "out of memory");
            return;
        }
        ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            char why[128];
            snprintf(why, sizeof why, "receive: %s", strerror(errno));
            bl_dpconn_close(c, why);
            return;
        }
        if (n == 0) {
            bl_dpconn_close(c, "connection closed by the other side");
            return;
        }
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = 0;
        for (;;) {
            const uint8_t *p;
            size_t plen;
            bl_err err;
            long used = bl_dp_frame(&c->in, &p, &plen, &err);
            if (used < 0) {
                bl_dpconn_close(c, err.msg);
                return;
            }
            if (used == 0)
                break;
            bl_dp_msg m;
            if (bl_dp_parse(p, plen, &m, &err) < 0) {
                bl_dpconn_close(c, err.msg);
                return;
            }
            if (c->st == ST_OPEN)
                c->ops.on_msg(c, &m, c->arg);
            else
                handshake(c, &m);
            if (c->closing)
                return;
            bl_buf_consume(&c->in, (size_t)used);
        }
    }
}

static void on_io(bl_loop *loop, int fd, unsigned events, void *arg)
{
    bl_dpconn *c = arg;
    c->busy++;
    if (c->st == ST_CONNECTING) {
        bl_err err;
        if (bl_net_connect_result(fd, &err) < 0) {
            bl_dpconn_close(c, err.msg);
        } else {
            c->st = ST_HELLO;
            want(c, BL_EV_READ);
        }
    } else {
        if (events & (BL_EV_READ | BL_EV_ERROR))
            read_some(c);
        if (!c->closing && (events & BL_EV_WRITE))
            write_some(c);
        if (!c->closing && (events & BL_EV_ERROR) && !(events & BL_EV_READ))
            bl_dpconn_close(c, "connection error");
    }
    c->busy--;
    if (c->closing && !c->busy)
        finish(c);
}

static bl_dpconn *make(bl_loop *loop, int fd, const bl_dpconn_ops *ops, void *arg, unsigned ev,
                       bl_err *err)
{
    bl_dpconn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        bl_fail(err, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->fd = fd;
    c->ops = *ops;
    c->arg = arg;
    c->events = ev;
    bl_buf_init(&c->in);
    bl_buf_init(&c->out);
    if (bl_loop_add(loop, fd, ev, on_io, c, err) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
    return c;
}

bl_dpconn *bl_dpconn_accepted(bl_loop *loop, int fd, const bl_dpconn_ops *ops, void *arg,
                              bl_err *err)
{
    bl_dpconn *c = make(loop, fd, ops, arg, BL_EV_READ, err);
    if (c)
        c->st = ST_OPEN;
    return c;
}

bl_dpconn *bl_dpconn_connect(bl_loop *loop, const struct sockaddr *sa, socklen_t salen,
                             uint8_t role, const bl_okey *key,
                             const uint8_t id[BL_OFFLOAD_ID_LEN], const bl_dpconn_ops *ops,
                             void *arg, bl_err *err)
{
    bool in_progress = false;
    int fd = bl_net_tcp_connect(sa, salen, &in_progress, err);
    if (fd < 0)
        return NULL;
    bl_dpconn *c = make(loop, fd, ops, arg, in_progress ? BL_EV_WRITE : BL_EV_READ, err);
    if (!c)
        return NULL;
    c->st = in_progress ? ST_CONNECTING : ST_HELLO;
    c->role = role;
    c->key = *key;
    memcpy(c->id, id, BL_OFFLOAD_ID_LEN);
    return c;
}
