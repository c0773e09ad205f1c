/* peer_serve: what a peer sends -- the output buffer and its flush, and the
 * blocks it asked us for, served in arrival order (file spans go out by
 * sendfile, a guarded copy by value), with the rules that keep one peer's
 * requests from costing others: a bounded serve queue, no requests while we
 * choke it, and a cooperative node's spreading of distinct pieces.
 * Part of peer.c's connection (swarm_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "swarm/swarm_int.h"

static uint64_t now_ms(const peer *p) { return bl_loop_now_ms(p->sw->loop); }

static bool out_pending(const peer *p)
{
    return p->out_off < p->out.len || p->span_count;
}

/* Send one span's bytes from its file; 1 if it is done, 0 if the socket is
 * full, -1 after closing the peer. */
static int send_span(peer *p, struct out_span *sp)
{
    bl_err err;
    int fd = bl_store_file_fd(p->sw->store, sp->file, &err);
    if (fd < 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot read data to serve: %s", err.msg);
        peer_close(p, why);
        return -1;
    }
    while (sp->len) {
        off_t off = (off_t)sp->off;
        ssize_t n = sendfile(p->fd, fd, &off, sp->len);
        if (n > 0) {
            sp->off += (uint64_t)n;
            sp->len -= (uint32_t)n;
            p->span_bytes -= (uint64_t)n;
            p->last_send_ms = now_ms(p);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        char why[160];
        snprintf(why, sizeof why, "send: %s", n < 0 ? strerror(errno)
                                                   : "a served file is shorter than described");
        peer_close(p, why);
        return -1;
    }
    return 1;
}

void peer_flush(peer *p)
{
    if (p->state == PEER_DEAD || p->state == PEER_CONNECTING)
        return;
    while (out_pending(p)) {
        struct out_span *sp = p->span_count ? &p->spans[p->span_head] : NULL;
        size_t upto = sp ? sp->at : p->out.len;
        if (p->out_off < upto) {
            /* MSG_MORE: a block's header waits for its data */
            ssize_t n = send(p->fd, p->out.data + p->out_off, upto - p->out_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT | (sp ? MSG_MORE : 0));
            if (n > 0) {
                p->out_off += (size_t)n;
                p->last_send_ms = now_ms(p);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            char why[128];
            snprintf(why, sizeof why, "send: %s", n < 0 ? strerror(errno) : "connection closed");
            peer_close(p, why);
            return;
        }
        int rc = send_span(p, sp);
        if (rc < 0)
            return;
        if (rc == 0)
            break;
        p->span_head++;
        if (--p->span_count == 0)
            p->span_head = 0;
    }
    /* Compact rarely: moving the unsent tail after every partial send would
     * copy the buffer many times over. */
    if (!out_pending(p)) {
        bl_buf_reset(&p->out);
        p->out_off = 0;
    } else if (p->out_off >= PEER_OUT_HIGH / 2) {
        bl_buf_consume(&p->out, p->out_off);
        for (size_t k = 0; k < p->span_count; k++)
            p->spans[p->span_head + k].at -= p->out_off;
        p->out_off = 0;
    }
    if (p->out.len - p->out_off > PEER_OUT_MAX) {
        /* what serve() queues stops at PEER_OUT_HIGH: this is replies to
         * its own messages (rejects) piling up unread */
        char why[128];
        snprintf(why, sizeof why, "does not read what we send (%zu bytes queued for it)",
                 p->out.len - p->out_off);
        peer_close(p, why);
        return;
    }
    unsigned mask = out_pending(p) ? BL_EV_READ | BL_EV_WRITE : BL_EV_READ;
    if (mask != p->ev_mask) { /* epoll_ctl only when it changes */
        bl_loop_mod(p->sw->loop, p->fd, mask);
        p->ev_mask = mask;
    }
}

struct serve_ctx {
    peer *p;
    bl_err *err;
};

/* One stretch of a block being served: a file span, or padding as zeros. */
static int queue_span(void *ctx, long file, uint64_t off, uint32_t n)
{
    struct serve_ctx *c = ctx;
    peer *p = c->p;
    bl_store *st = p->sw->store;
    if (file < 0 || bl_store_guarded(st)) {
        /* padding as zeros; a guarded copy by value (see bl_store_guarded:
         * sendfile would send whatever the page holds when it goes out) */
        if (!bl_buf_reserve(&p->out, n))
            return bl_fail(c->err, "out of memory");
        uint8_t *dst = p->out.data + p->out.len;
        if (file < 0)
            memset(dst, 0, n);
        else if (bl_store_read_served(st, (size_t)file, off, n, dst, c->err) != 0)
            return -1;
        p->out.len += n;
        p->out.data[p->out.len] = 0;
        return 0;
    }
    if (p->span_head + p->span_count == p->span_cap) {
        if (p->span_head) { /* slide the live spans to the front */
            memmove(p->spans, p->spans + p->span_head, p->span_count * sizeof *p->spans);
            p->span_head = 0;
        } else {
            size_t cap = p->span_cap ? p->span_cap * 2 : 64;
            struct out_span *ns = realloc(p->spans, cap * sizeof *ns);
            if (!ns)
                return bl_fail(c->err, "out of memory");
            p->spans = ns;
            p->span_cap = cap;
        }
    }
    p->spans[p->span_head + p->span_count++] =
        (struct out_span){.at = p->out.len, .file = (uint32_t)file, .len = n, .off = off};
    p->span_bytes += n;
    return 0;
}

/* Serve queued requests in arrival order while the socket keeps up. */
void peer_serve(peer *p)
{
    bl_swarm *s = p->sw;
    while (p->serve_len && p->out.len - p->out_off + p->span_bytes < PEER_OUT_HIGH &&
           p->state == PEER_ACTIVE) {
        bl_block b = p->serve_q[p->serve_head];
        p->serve_head = (p->serve_head + 1) % p->serve_cap;
        p->serve_len--;
        size_t mark = p->out.len, spans = p->span_count;
        uint64_t span_bytes = p->span_bytes;
        if (!bl_buf_reserve(&p->out, 13)) {
            peer_close(p, "out of memory");
            return;
        }
        bl_wire_put_piece_header(&p->out, b.piece, b.offset, b.length);
        bl_err err;
        struct serve_ctx c = {p, &err};
        uint32_t gen = bl_store_generation(s->store);
        int rc = bl_store_spans(s->store, b.piece, b.offset, b.length, queue_span, &c, &err);
        if (rc != 0) {
            p->out.len = mark; /* take the header (and any part) back */
            p->out.data[mark] = 0;
            p->span_count = spans;
            p->span_bytes = span_bytes;
            if (!spans)
                p->span_head = 0;
            if (gen != bl_store_generation(s->store)) {
                /* pieces this peer was told we have are gone: it learns
                 * what still matches by reconnecting */
                swarm_store_changed(s);
                peer_close(p, "a file being served changed on disk; the peer reconnects for "
                              "what still matches");
                return;
            }
            bl_warn("peer %s: cannot serve piece %u: %s", p->name, b.piece,
                    rc == BL_STORE_NOT_HAD ? "not had" : err.msg);
            continue;
        }
        if (s->sent_ms && p->coop) {
            s->sent_ms[b.piece] = now_ms(p);
            s->sent_to[b.piece] = p->id;
        }
        p->uploaded += b.length;
        p->win_up += b.length;
        s->st.bytes_uploaded += b.length;
    }
    peer_flush(p);
}

static int serve_push(peer *p, const bl_block *b)
{
    if (p->serve_len == p->serve_cap) {
        if (p->serve_cap >= PEER_SERVE_QUEUE_MAX)
            return -1;
        uint32_t cap = p->serve_cap ? p->serve_cap * 2 : 64;
        bl_block *q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (uint32_t i = 0; i < p->serve_len; i++)
            q[i] = p->serve_q[(p->serve_head + i) % p->serve_cap];
        free(p->serve_q);
        p->serve_q = q;
        p->serve_cap = cap;
        p->serve_head = 0;
    }
    p->serve_q[(p->serve_head + p->serve_len) % p->serve_cap] = *b;
    p->serve_len++;
    return 0;
}

/* Remove a queued request; true if it was there. */
bool peer_serve_remove(peer *p, const bl_block *b)
{
    for (uint32_t i = 0; i < p->serve_len; i++) {
        bl_block *q = &p->serve_q[(p->serve_head + i) % p->serve_cap];
        if (q->piece == b->piece && q->offset == b->offset && q->length == b->length) {
            for (uint32_t k = i; k + 1 < p->serve_len; k++)
                p->serve_q[(p->serve_head + k) % p->serve_cap] =
                    p->serve_q[(p->serve_head + k + 1) % p->serve_cap];
            p->serve_len--;
            return true;
        }
    }
    return false;
}

/* A cooperative seed spreads distinct pieces: a request for a piece it sent
 * another cooperative peer within the last SEED_SPREAD_MS is refused (BEP 6
 * reject) -- the requester will have it from that peer in a moment, and the
 * seed's upload goes to a piece nobody has yet.  A node fetching on demand
 * does the same: when every node reads the same files in the same order, the
 * one that opened a file first holds all that the others want next, and
 * without the rule it uploads the file to each of them (measured on
 * bench/ondemand N=8, file mode: 4.1-5.2 s -> 2.9-3.3 s); with it pieces fan
 * out as a tree.  A node fetching in bulk does not: rarest-first gives each
 * node an equal share of the fresh pieces, the star around each is balanced,
 * and a tree only adds hops (bench/swarm N=8, five alternating runs: median
 * 4.52 s with the rule, 4.13 s without).  After the window the piece is
 * served to whoever asks, so nothing starves. */
static bool spread_elsewhere(peer *p, uint32_t piece)
{
    bl_swarm *s = p->sw;
    if (!s->sent_ms || !p->coop || !(p->caps & BL_WIRE_CAP_FAST))
        return false;
    if (!bl_store_complete(s->store) && !bl_picker_on_demand(s->picker))
        return false;
    return s->sent_to[piece] != p->id && s->sent_ms[piece] &&
           now_ms(p) - s->sent_ms[piece] < SEED_SPREAD_MS;
}

void peer_got_request(peer *p, const bl_msg *m)
{
    bl_swarm *s = p->sw;
    bl_block b = {.piece = m->index, .offset = m->begin, .length = m->length};
    if (!bl_store_have(s->store, b.piece)) {
        char why[96];
        snprintf(why, sizeof why, "requested piece %u, which we never announced", b.piece);
        peer_close(p, why);
        return;
    }
    if (p->am_choking) {
        /* an honest peer's requests in flight when we choked it are at
         * most the reqq we advertised; it makes no more until unchoked */
        if (++p->choked_requests > PEER_CHOKED_REQUESTS_MAX) {
            char why[96];
            snprintf(why, sizeof why, "sent %u requests while choked (an honest peer waits for "
                     "unchoke)", p->choked_requests);
            peer_close(p, why);
            return;
        }
        if (p->caps & BL_WIRE_CAP_FAST)
            bl_wire_put_request(&p->out, BL_MSG_REJECT, b.piece, b.offset, b.length);
        return;
    }
    if (spread_elsewhere(p, b.piece)) {
        bl_wire_put_request(&p->out, BL_MSG_REJECT, b.piece, b.offset, b.length);
        return;
    }
    if (serve_push(p, &b) < 0) {
        peer_close(p, "more queued requests than we allow");
        return;
    }
    peer_serve(p);
}

