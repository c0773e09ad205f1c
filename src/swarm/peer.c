/* peer: one BitTorrent connection of a swarm.
 *
 * Bytes in are decoded by wire.c and acted on at once; bytes out collect in
 * p->out and are flushed without blocking (the loop tells us when the socket
 * is writable again).  A peer that breaks the protocol is closed with one
 * log line naming it and the fault; nothing it does can disturb other
 * connections.  Closed peers wait in the swarm's graveyard until the loop
 * turns, so a handler never frees the object it is running on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "swarm/swarm_int.h"

static void on_io(bl_loop *loop, int fd, unsigned events, void *arg);

static uint64_t now_ms(const peer *p) { return bl_loop_now_ms(p->sw->loop); }

bool peer_is_seeder(const peer *p)
{
    return p->has_all || bl_bitfield_all(&p->have);
}

/* For accounting ("bytes from seeders"): a real seeder, not a node that
 * happens to have finished.  bitlib peers say so (BEP 21 upload_only: only
 * `bitlib seed` sends it); for other clients, complete is all we know. */
bool peer_is_origin(const peer *p)
{
    return peer_is_seeder(p) && (p->upload_only || strncmp(p->client, "bitlib ", 7) != 0);
}

peer *peer_new(bl_swarm *s, int fd, bool outgoing, const struct sockaddr *sa, socklen_t len,
               bool connecting)
{
    peer *p = calloc(1, sizeof *p);
    bl_err err;
    if (!p)
        return NULL;
    if (bl_bitfield_init(&p->have, s->mi->num_pieces, &err) < 0) {
        free(p);
        return NULL;
    }
    if (bl_bitfield_init(&p->promised, s->mi->num_pieces, &err) < 0) {
        bl_bitfield_free(&p->have);
        free(p);
        return NULL;
    }
    if (bl_bitfield_init(&p->rejected, s->mi->num_pieces, &err) < 0) {
        bl_bitfield_free(&p->have);
        bl_bitfield_free(&p->promised);
        free(p);
        return NULL;
    }
    p->sw = s;
    p->fd = fd;
    p->id = ++s->next_peer_id;
    p->outgoing = outgoing;
    memcpy(&p->addr, sa, len);
    p->addr_len = len;
    bl_net_format(sa, len, p->name, sizeof p->name);
    p->state = connecting ? PEER_CONNECTING : PEER_HANDSHAKE;
    p->am_choking = true;
    p->peer_choking = true;
    p->pipeline = PEER_PIPELINE_START;
    bl_buf_init(&p->in);
    bl_buf_init(&p->out);
    uint64_t now = bl_loop_now_ms(s->loop);
    p->connected_ms = p->last_recv_ms = p->last_send_ms = p->last_block_ms = now;
    p->ev_mask = connecting ? BL_EV_WRITE : BL_EV_READ;
    if (bl_loop_add(s->loop, fd, p->ev_mask, on_io, p, &err) < 0) {
        bl_warn("peer %s: cannot watch socket: %s", p->name, err.msg);
        bl_bitfield_free(&p->have);
        bl_bitfield_free(&p->promised);
        bl_bitfield_free(&p->rejected);
        free(p);
        return NULL;
    }
    p->next = s->peers;
    if (s->peers)
        s->peers->prev = p;
    s->peers = p;
    s->num_peers++;
    if (!connecting) {
        bl_wire_handshake_encode(&p->out, s->mi->info_hash, s->peer_id,
                                 BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
        p->hs_sent = true;
        peer_flush(p);
    }
    return p;
}

static void reap(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    s->reap_timer = 0;
    while (s->graveyard) {
        peer *p = s->graveyard;
        s->graveyard = p->next;
        peer_free(p);
    }
    /* blocks the dead held are requestable again */
    for (peer *q = s->peers, *next; q; q = next) { /* filling may close q */
        next = q->next;
        peer_fill_requests(q);
    }
}

void peer_free(peer *p)
{
    bl_buf_free(&p->in);
    bl_buf_free(&p->out);
    free(p->spans);
    bl_bitfield_free(&p->have);
    bl_bitfield_free(&p->promised);
    bl_bitfield_free(&p->rejected);
    free(p->promises);
    free(p->rejects);
    free(p->serve_q);
    free(p);
}

/* The address a connection's far end listens on: the one we dialled, or
 * the port its extension handshake names.  false while unknown. */
static bool listen_endpoint(const peer *p, struct sockaddr_storage *ss)
{
    uint16_t port = p->outgoing ? bl_net_port((const struct sockaddr *)&p->addr) : p->listen_port;
    if (!port)
        return false;
    *ss = p->addr;
    bl_net_set_port((struct sockaddr *)ss, port);
    return true;
}

/* Another live connection reaches the listen address p's far end has. */
static bool reached_otherwise(const peer *p)
{
    struct sockaddr_storage mine, theirs;
    if (!listen_endpoint(p, &mine))
        return false;
    for (const peer *q = p->sw->peers; q; q = q->next)
        if (q != p && q->state == PEER_ACTIVE && q->addr_len == p->addr_len &&
            listen_endpoint(q, &theirs) && memcmp(&mine, &theirs, p->addr_len) == 0)
            return true;
    return false;
}

void peer_close(peer *p, const char *why)
{
    if (p->state == PEER_DEAD)
        return;
    bl_swarm *s = p->sw;
    bl_info("peer %s: closed: %s", p->name, why);
    if (p->hs_received && (p->downloaded || p->uploaded))
        swarm_remember(s, p);
    bl_loop_del(s->loop, p->fd);
    close(p->fd);
    p->fd = -1;
    bl_picker_peer_released(s->picker, p->id);
    swarm_solo_peer_gone(s, p->id);
    if (p->picker_registered)
        bl_picker_peer_gone(s->picker, p->has_all ? NULL : p->have.bits, p->has_all);
    for (uint32_t i = bl_bitfield_next_set(&p->promised, 0); i < p->promised.npieces;
         i = bl_bitfield_next_set(&p->promised, i + 1))
        bl_picker_peer_unhave(s->picker, i);
    /* the peer may stay connected through another connection (a duplicate
     * being settled): then its address is not dialled again */
    bool still = p->duplicate || reached_otherwise(p);
    if (p->hs_received && p->listen_port && !still) {
        struct sockaddr_storage ss = p->addr;
        bl_net_set_port((struct sockaddr *)&ss, p->listen_port);
        candidate *c = swarm_candidate(s, (struct sockaddr *)&ss, p->addr_len, false);
        if (c)
            c->connected = false;
    }
    if (p->outgoing && !still) {
        candidate *c = swarm_candidate(s, (struct sockaddr *)&p->addr, p->addr_len, false);
        if (c) {
            c->connected = false;
            if (!p->hs_received)
                c->failures++;
            /* it claimed pieces and served none: redialled, it held its
             * requests' pieces up for another timeout each time (measured:
             * honest rate 0.34 of baseline, t_swarm_hostile_matrix) */
            if (p->useless)
                c->banned = true;
            /* back off: 1 s, 2 s, 4 s ... capped at 60 s */
            uint32_t shift = c->failures < 6 ? c->failures : 6;
            c->next_try_ms = now_ms(p) + (1000ull << shift);
        }
    }
    /* unlink */
    if (p->prev)
        p->prev->next = p->next;
    else
        s->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    s->num_peers--;
    p->state = PEER_DEAD;
    p->next = s->graveyard;
    p->prev = NULL;
    s->graveyard = p;
    if (!s->reap_timer)
        s->reap_timer = bl_loop_timer(s->loop, 0, reap, s);
}

/* Interest in a peer holding pieces we want, of course.  A stock peer also
 * keeps our interest while it holds pieces we lack and we read on demand:
 * such a peer chokes us as soon as we say "not interested" and unchokes us
 * again only at its next choke round (10-30 s) after we say "interested",
 * so a mount that dropped interest whenever an opened file had arrived
 * waited a whole round for every next file (seven files behind a seeder
 * with 30 s rounds: 148 s).  Held until PEER_STOCK_LINGER_MS after the last
 * want, the unchoked slot is there when the next file is opened: one round
 * trip.  Cooperative peers never choke, so they get interest only while
 * they have something we want, as before. */
static bool want_interest(const peer *p, uint64_t now)
{
    if (p->wanted_count > 0)
        return true;
    const bl_swarm *s = p->sw;
    return !p->coop && p->lacking_count > 0 && s->last_want_ms &&
           now - s->last_want_ms < PEER_STOCK_LINGER_MS;
}

static void set_interest(peer *p)
{
    bool want = want_interest(p, now_ms(p));
    if (want == p->am_interested || p->state != PEER_ACTIVE)
        return;
    p->am_interested = want;
    bl_wire_put_simple(&p->out, want ? BL_MSG_INTERESTED : BL_MSG_NOT_INTERESTED);
}

void peer_recount_wanted(peer *p)
{
    uint32_t n = 0, lacking = 0;
    for (uint32_t i = bl_bitfield_next_set(&p->have, 0); i < p->have.npieces;
         i = bl_bitfield_next_set(&p->have, i + 1)) {
        if (swarm_wants_piece(p->sw, i))
            n++;
        if (!bl_store_have(p->sw->store, i))
            lacking++;
    }
    p->wanted_count = n;
    p->lacking_count = lacking;
    set_interest(p);
}

void peer_set_choke(peer *p, bool choke)
{
    if (p->state != PEER_ACTIVE || choke == p->am_choking)
        return;
    p->am_choking = choke;
    p->choked_requests = 0;
    bl_wire_put_simple(&p->out, choke ? BL_MSG_CHOKE : BL_MSG_UNCHOKE);
    if (choke) {
        /* choking discards the queue; with BEP 6 each request gets a reject */
        while (p->serve_len) {
            bl_block b = p->serve_q[p->serve_head];
            p->serve_head = (p->serve_head + 1) % p->serve_cap;
            p->serve_len--;
            if (p->caps & BL_WIRE_CAP_FAST)
                bl_wire_put_request(&p->out, BL_MSG_REJECT, b.piece, b.offset, b.length);
        }
    }
    peer_flush(p);
}

void peer_send_have(peer *p, uint32_t piece)
{
    if (p->state != PEER_ACTIVE)
        return;
    /* a peer that has the piece gains nothing from hearing about it */
    if (!bl_bitfield_test(&p->have, piece))
        bl_wire_put_index(&p->out, BL_MSG_HAVE, piece);
    else {
        if (p->lacking_count > 0)
            p->lacking_count--;
        if (p->wanted_count > 0)
            p->wanted_count--;
        set_interest(p);
    }
}

/* Remember that p rejected piece (see PEER_REJECT_AVOID_MS). */
static void peer_mark_rejected(peer *p, uint32_t piece)
{
    if (bl_bitfield_test(&p->rejected, piece))
        return;
    if (!p->rejects && !(p->rejects = malloc(PEER_REJECT_MARKS * sizeof *p->rejects)))
        return;
    if (p->rej_len == PEER_REJECT_MARKS) { /* forget the oldest */
        bl_bitfield_clear(&p->rejected, p->rejects[p->rej_head].piece);
        p->rej_head = (p->rej_head + 1) % PEER_REJECT_MARKS;
        p->rej_len--;
    }
    bl_bitfield_set(&p->rejected, piece);
    p->rejects[(p->rej_head + p->rej_len) % PEER_REJECT_MARKS] =
        (struct promise){.piece = piece, .ms = now_ms(p)};
    p->rej_len++;
}

void peer_expire_rejects(peer *p, uint64_t now)
{
    while (p->rej_len) {
        struct promise *r = &p->rejects[p->rej_head];
        if (now - r->ms < PEER_REJECT_AVOID_MS)
            break;
        bl_bitfield_clear(&p->rejected, r->piece);
        p->rej_head = (p->rej_head + 1) % PEER_REJECT_MARKS;
        p->rej_len--;
    }
}

/* An unchoking peer that has answered none of our requests for
 * PEER_FIRST_BLOCK_GRACE_MS: stop counting what it claims (while it is
 * counted, seeds are spared for those pieces and nobody else is asked for
 * them) and give its requests to others.  A block from it restores it. */
static void peer_withdraw(peer *p)
{
    bl_swarm *s = p->sw;
    p->withdrawn = true;
    p->withdrawals++;
    bl_info("peer %s: no block %u ms after our first request; not counting its pieces until "
            "it sends one", p->name, PEER_FIRST_BLOCK_GRACE_MS);
    bl_picker_peer_released(s->picker, p->id);
    p->outstanding = 0;
    if (p->picker_registered)
        bl_picker_peer_gone(s->picker, p->has_all ? NULL : p->have.bits, p->has_all);
    p->picker_registered = false;
    for (uint32_t i = bl_bitfield_next_set(&p->promised, 0); i < p->promised.npieces;
         i = bl_bitfield_next_set(&p->promised, i + 1)) {
        bl_bitfield_clear(&p->promised, i);
        bl_picker_peer_unhave(s->picker, i);
    }
    p->prom_len = 0;
    swarm_defer_flush(s); /* other peers take the released blocks */
}

static void peer_restore(peer *p)
{
    bl_swarm *s = p->sw;
    p->withdrawn = false;
    if (!p->picker_registered)
        bl_picker_peer_bitfield(s->picker, p->has_all ? NULL : p->have.bits, p->has_all);
    p->picker_registered = true;
}

void peer_fill_requests(peer *p)
{
    bl_swarm *s = p->sw;
    if (p->state != PEER_ACTIVE || p->peer_choking || !p->am_interested || swarm_paused(s) ||
        p->withdrawn)
        return;
    uint32_t limit = p->pipeline;
    if (p->reqq && p->reqq < limit)
        limit = p->reqq;
    /* Refill in batches, once half the pipeline has drained: a picker call
     * per arriving block would scan the pieces once per block. */
    if (p->outstanding > limit / 2)
        return;
    /* A peer that had nothing more for us stays so until it announces a
     * piece we can ask for (got_have), the picker's supply changes, or
     * duplicates may be due; else each HAVE from it would scan again for
     * nothing (measured: 90% of picker calls at N=16).  Seeds are always
     * asked: the spare-seed rule depends on other peers' pieces. */
    uint64_t now = now_ms(p);
    if (p->dry && !p->has_all && p->dry_supply == bl_picker_supply(s->picker) &&
        now - p->dry_ms < PEER_DRY_RECHECK_MS && !s->num_solo &&
        !bl_picker_dups_due(s->picker))
        return;
    p->dry = false;
    bl_block blocks[32];
    /* pieces being fetched again from one other peer alone, and those it
     * rejected a moment ago, are not asked of this one */
    const uint8_t *solo = swarm_request_mask(s, p);
    while (p->outstanding < limit) {
        int want = (int)(limit - p->outstanding);
        if (want > 32)
            want = 32;
        int n = bl_picker_next(s->picker, p->id, solo ? solo : p->have.bits, p->has_all, now,
                               blocks, want);
        if (n < want) {
            p->dry = true;
            p->dry_supply = bl_picker_supply(s->picker);
            p->dry_ms = now;
        }
        if (n <= 0)
            break;
        uint32_t intents[32];
        size_t nint = 0;
        for (int i = 0; i < n; i++) {
            bl_wire_put_request(&p->out, BL_MSG_REQUEST, blocks[i].piece, blocks[i].offset,
                                blocks[i].length);
            if (p->coop && peer_is_seeder(p) && bl_bitfield_set(&s->intent_sent, blocks[i].piece))
                intents[nint++] = blocks[i].piece;
        }
        peer_send_intents(p, intents, nint);
        if (p->outstanding == 0)
            p->last_block_ms = now; /* the request clock starts now */
        if (!p->first_request_ms)
            p->first_request_ms = now;
        p->outstanding += (uint32_t)n;
        p->requests_sent += (uint64_t)n;
        if (p->dry)
            break;
    }
    peer_flush(p);
}

static void send_bitfield(peer *p)
{
    bl_swarm *s = p->sw;
    uint32_t had = bl_store_num_had(s->store);
    if ((p->caps & BL_WIRE_CAP_FAST) && had == s->mi->num_pieces)
        bl_wire_put_simple(&p->out, BL_MSG_HAVE_ALL);
    else if ((p->caps & BL_WIRE_CAP_FAST) && had == 0)
        bl_wire_put_simple(&p->out, BL_MSG_HAVE_NONE);
    else if (had > 0)
        bl_wire_put_bitfield(&p->out, bl_store_bitfield(s->store), bl_store_bitfield_len(s->store));
}

static void send_ext_handshake(peer *p)
{
    bl_swarm *s = p->sw;
    bl_ext_handshake hs;
    memset(&hs, 0, sizeof hs);
    if (!s->mi->is_private)
        bl_ext_handshake_set(&hs, "ut_pex", BL_EXT_LOCAL_UT_PEX);
    if (s->cfg.policy == BL_POLICY_COOPERATIVE)
        bl_ext_handshake_set(&hs, BL_EXT_BITLIB_INTENT, BL_EXT_LOCAL_BITLIB_INTENT);
    if (s->cfg.secret) {
        bl_ext_handshake_set(&hs, BL_EXT_BITLIB_AUTH, BL_EXT_LOCAL_BITLIB_AUTH);
        memcpy(hs.nonce, p->my_nonce, BL_EXT_NONCE_LEN);
        hs.has_nonce = true;
    }
    if (s->listen_port) {
        hs.has_port = true;
        hs.port = s->listen_port;
    }
    snprintf(hs.client, sizeof hs.client, "bitlib %s", "0.1.0");
    hs.reqq = PEER_REQQ_ADVERTISED;
    hs.bitlib_coop = s->cfg.policy == BL_POLICY_COOPERATIVE;
    hs.upload_only = s->cfg.seed;
    bl_buf payload;
    bl_buf_init(&payload);
    bl_ext_handshake_encode(&payload, &hs);
    bl_wire_put_extended(&p->out, BL_EXT_HANDSHAKE_ID, payload.data, payload.len);
    bl_buf_free(&payload);
}


static void ext_handshake_effects(peer *p, bool coop, uint8_t pex_was);

/* An extension handshake: the first, or a later one carrying changes only
 * (BEP 10), merged into what the peer said before. */
static void got_ext_handshake(peer *p, const uint8_t *data, size_t len)
{
    bl_swarm *s = p->sw;
    bl_err err;
    unsigned carried;
    if (bl_ext_handshake_update(&p->ext, data, len, &carried, &err) < 0) {
        peer_close(p, err.msg);
        return;
    }
    const bl_ext_handshake *hs = &p->ext;
    if (carried & BL_EXT_KEY_V)
        bl_log_safe(p->client, sizeof p->client, hs->client, strlen(hs->client));
    uint8_t pex_was = p->ext_pex_id;
    p->ext_pex_id = s->mi->is_private ? 0 : bl_ext_handshake_id(hs, "ut_pex");
    if (carried & BL_EXT_KEY_UPLOAD_ONLY)
        p->upload_only = hs->upload_only;
    if (carried & BL_EXT_KEY_REQQ)
        p->reqq = hs->reqq;
    if ((carried & BL_EXT_KEY_P) && hs->port != p->listen_port) {
        p->listen_port = hs->port;
        s->peer_generation++;
        swarm_pex_soon(s);
        struct sockaddr_storage ss = p->addr;
        bl_net_set_port((struct sockaddr *)&ss, hs->port);
        candidate *c = swarm_candidate(s, (struct sockaddr *)&ss, p->addr_len, true);
        if (c)
            c->connected = true;
        if (!p->outgoing)
            p->endpoint_ms = now_ms(p);
    }
    bool coop = hs->bitlib_coop && s->cfg.policy == BL_POLICY_COOPERATIVE;
    p->ext_intent_id = coop ? bl_ext_handshake_id(hs, BL_EXT_BITLIB_INTENT) : 0;
    if (!s->cfg.secret && hs->has_nonce) {
        /* it asks for a proof we cannot give: say so once, not per redial */
        uint32_t n = ++s->auth_refusals;
        if ((n & (n - 1)) == 0)
            bl_error("peer %s is in a private swarm (it asks for proof of a job secret): start "
                     "this node with the job's --secret-file (%u so far)", p->name, n);
        peer_close(p, "a private swarm's peer: this node has no --secret-file");
        return;
    }
    if (p->state == PEER_HANDSHAKE) {
        /* a private swarm's peer that has not proved the secret yet */
        peer_auth_ext_handshake(p);
        return;
    }
    ext_handshake_effects(p, coop, pex_was);
}

/* What a (merged) extension handshake changes for an active peer. */
static void ext_handshake_effects(peer *p, bool coop, uint8_t pex_was)
{
    if (coop && !p->coop) {
        p->coop = true;
        bl_debug("peer %s: cooperative bitlib peer (%s)", p->name, p->client);
        peer_set_choke(p, false);
        set_interest(p); /* cooperative peers are never choked: interest as needed */
    }
    if (p->ext_pex_id && !pex_was)
        peer_send_pex(p);
}


static void got_extended(peer *p, const bl_msg *m)
{
    bl_swarm *s = p->sw;
    bl_err err;
    if (m->ext_id == BL_EXT_HANDSHAKE_ID) {
        got_ext_handshake(p, m->data, m->data_len);
        return;
    }
    if (m->ext_id == BL_EXT_LOCAL_BITLIB_AUTH && s->cfg.secret) {
        peer_auth_got_proof(p, m->data, m->data_len);
        return;
    }
    if (p->state != PEER_ACTIVE)
        return; /* nothing else counts before the secret is proved */
    if (m->ext_id == BL_EXT_LOCAL_BITLIB_INTENT && p->coop) {
        peer_got_intents(p, m->data, m->data_len);
        return;
    }
    if (m->ext_id == BL_EXT_LOCAL_UT_PEX && !s->mi->is_private) {
        bl_pex pex;
        if (bl_pex_decode(m->data, m->data_len, &pex, &err) < 0) {
            peer_close(p, err.msg);
            return;
        }
        for (size_t i = 0; i < pex.n_added; i++) {
            struct sockaddr_storage ss;
            socklen_t len = bl_pex_peer_sockaddr(&pex.added[i], &ss);
            if (len && pex.added[i].port)
                swarm_pex_learned(s, (struct sockaddr *)&ss, len);
        }
    }
    /* other extensions: not spoken, ignored */
}


static void got_have(peer *p, uint32_t piece)
{
    bl_swarm *s = p->sw;
    if (!bl_bitfield_set(&p->have, piece))
        return;
    /* a promised piece is already counted; a withdrawn peer's are not */
    if (!p->withdrawn) {
        p->picker_registered = true;
        if (!bl_bitfield_clear(&p->promised, piece))
            bl_picker_peer_have(s->picker, piece);
    }
    if (!bl_store_have(s->store, piece))
        p->lacking_count++;
    if (swarm_wants_piece(s, piece))
        p->wanted_count++;
    set_interest(p);
    if (bl_picker_requestable(s->picker, piece))
        p->dry = false;
}

static void got_piece(peer *p, const bl_msg *m)
{
    bl_swarm *s = p->sw;
    bl_block b = {.piece = m->index, .offset = m->begin, .length = (uint32_t)m->data_len};
    uint32_t cancel[16];
    bool complete = false;
    p->last_block_ms = now_ms(p);
    /* Every honest block answers one of our requests to this peer (late ones
     * after a cancel included): more blocks than requests is data pushed at
     * us.  It would never reach a piece (the picker takes only blocks it
     * asked this peer for), but it costs us reading it. */
    if (++p->blocks_received > p->requests_sent) {
        char why[128];
        snprintf(why, sizeof why, "sent a block we never asked it for (piece %u, %u bytes at %u)",
                 b.piece, b.length, b.offset);
        s->st.bytes_wasted += b.length;
        peer_close(p, why);
        return;
    }
    if (p->withdrawn) {
        /* a late answer to a released request: it serves after all */
        peer_restore(p);
        p->last_good_block_ms = p->last_block_ms;
    }
    int nc = bl_picker_block_received(s->picker, p->id, &b, cancel, 16, &complete);
    if (nc < 0) {
        /* not requested from this peer, or already in: a late duplicate.
         * Its request was already accounted for when it was cancelled,
         * released or rejected, so outstanding stays as it is. */
        s->st.bytes_wasted += b.length;
        return;
    }
    if (p->outstanding)
        p->outstanding--;
    p->last_good_block_ms = p->last_block_ms;
    p->rejects_since_block = 0;
    p->downloaded += b.length;
    p->win_down += b.length;
    s->st.bytes_downloaded += b.length;
    if (peer_is_origin(p))
        s->st.bytes_from_seeders += b.length;
    /* CANCELs go out with the next flush: flushing here could close a peer
     * and unlink it from the list being walked */
    for (int i = 0; i < nc; i++)
        for (peer *q = s->peers; q; q = q->next)
            if (q->id == cancel[i] && q->state == PEER_ACTIVE) {
                bl_wire_put_request(&q->out, BL_MSG_CANCEL, b.piece, b.offset, b.length);
                if (q->outstanding)
                    q->outstanding--;
            }
    if (nc > 0)
        swarm_defer_flush(s);
    swarm_contrib_add(s, b.piece, p->id);
    bl_err err;
    int rc = bl_store_write_block(s->store, b.piece, b.offset, m->data, b.length, &err);
    if (rc < 0) {
        bl_warn("piece %u: cannot buffer block from %s: %s; fetching the piece again", b.piece,
                p->name, err.msg);
        bl_store_drop_pending(s->store, b.piece);
        bl_picker_piece_failed(s->picker, b.piece);
        return;
    }
    if (complete)
        swarm_verify_piece(s, b.piece);
}

static void handle(peer *p, const bl_msg *m)
{
    bl_swarm *s = p->sw;
    bool fast = p->caps & BL_WIRE_CAP_FAST;
    bool first = !p->got_first_msg;
    if (p->state == PEER_HANDSHAKE && m->type != BL_MSG_EXTENDED && m->type != BL_MSG_KEEPALIVE) {
        peer_close(p, "refused: sent a piece-protocol message before proving the job secret");
        return;
    }
    if (m->type != BL_MSG_EXTENDED && m->type != BL_MSG_KEEPALIVE)
        p->got_first_msg = true;
    switch (m->type) {
    case BL_MSG_KEEPALIVE:
    case BL_MSG_PORT:
    case BL_MSG_SUGGEST:
    case BL_MSG_ALLOWED_FAST:
    case BL_MSG_UNKNOWN:
        break;
    case BL_MSG_CHOKE:
        p->peer_choking = true;
        bl_picker_peer_released(s->picker, p->id);
        p->outstanding = 0;
        if (!p->last_good_block_ms)
            p->first_request_ms = 0; /* the first-block clock restarts at unchoke */
        break;
    case BL_MSG_UNCHOKE:
        p->peer_choking = false;
        if (p->withdrawn)
            peer_restore(p); /* the first-block clock restarts */
        peer_fill_requests(p);
        break;
    case BL_MSG_INTERESTED:
    case BL_MSG_NOT_INTERESTED:
        p->peer_interested = m->type == BL_MSG_INTERESTED;
        if (!p->coop)
            swarm_rechoke(s);
        break;
    case BL_MSG_HAVE:
        got_have(p, m->index);
        peer_fill_requests(p);
        break;
    case BL_MSG_BITFIELD:
    case BL_MSG_HAVE_ALL:
    case BL_MSG_HAVE_NONE: {
        if (!first) {
            peer_close(p, "bitfield after other messages");
            return;
        }
        if (m->type != BL_MSG_BITFIELD && !fast) {
            peer_close(p, "fast-extension message without the fast extension");
            return;
        }
        bl_err err;
        if (m->type == BL_MSG_BITFIELD) {
            if (bl_bitfield_load(&p->have, m->data, m->data_len, &err) < 0) {
                peer_close(p, err.msg);
                return;
            }
            /* a full bitfield is a seed, counted as one by the picker */
            p->has_all = bl_bitfield_all(&p->have);
            bl_picker_peer_bitfield(s->picker, p->has_all ? NULL : p->have.bits, p->has_all);
        } else if (m->type == BL_MSG_HAVE_ALL) {
            bl_bitfield_set_all(&p->have);
            p->has_all = true;
            bl_picker_peer_bitfield(s->picker, NULL, true);
        }
        p->picker_registered = true;
        peer_recount_wanted(p);
        peer_fill_requests(p);
        break;
    }
    case BL_MSG_REQUEST:
        peer_got_request(p, m);
        break;
    case BL_MSG_CANCEL: {
        bl_block b = {.piece = m->index, .offset = m->begin, .length = m->length};
        uint64_t now = now_ms(p);
        if (now - p->cancel_win_ms >= PEER_CANCEL_WINDOW_MS) {
            p->cancel_win_ms = now;
            p->cancels = 0;
        }
        /* an honest peer cancels what it asked for, a queue (reqq) at a time */
        if (++p->cancels > PEER_CANCELS_MAX) {
            char why[96];
            snprintf(why, sizeof why, "sent more than %u cancels in %u s (request/cancel churn)",
                     PEER_CANCELS_MAX, PEER_CANCEL_WINDOW_MS / 1000);
            peer_close(p, why);
            return;
        }
        if (peer_serve_remove(p, &b) && fast)
            bl_wire_put_request(&p->out, BL_MSG_REJECT, b.piece, b.offset, b.length);
        break;
    }
    case BL_MSG_PIECE:
        got_piece(p, m);
        if (p->state == PEER_ACTIVE)
            peer_fill_requests(p);
        break;
    case BL_MSG_REJECT: {
        if (!fast) {
            peer_close(p, "reject without the fast extension");
            return;
        }
        bl_block b = {.piece = m->index, .offset = m->begin, .length = m->length};
        if (bl_picker_block_rejected(s->picker, p->id, &b) == 0 && p->outstanding)
            p->outstanding--;
        if (!p->peer_choking && p->coop)
            peer_mark_rejected(p, b.piece);
        /* rejects while it unchokes us, for pieces it claims, and no block:
         * a lying bitfield (a seed's brief spreading rejects come with
         * blocks for other pieces; rejects after a choke do not count) */
        if (!p->peer_choking && ++p->rejects_since_block >= PEER_REJECTS_MAX &&
            now_ms(p) - (p->last_good_block_ms ? p->last_good_block_ms : p->connected_ms) >=
                PEER_REJECT_DRY_MS) {
            char why[128];
            snprintf(why, sizeof why, "rejected %u requests in a row for pieces it claims, no "
                     "block for %u s", p->rejects_since_block, PEER_REJECT_DRY_MS / 1000);
            p->useless = true;
            peer_close(p, why);
            return;
        }
        /* A stock peer's rejected pieces are not masked from it, and one
         * that rejects everything would loop us: a short timer asks again.
         * A cooperative peer's are (peer_mark_rejected), so the piece goes
         * to another holder in this pass: waiting the timer was most of a
         * file's time when nodes read on demand (bench/ondemand). */
        if (!p->peer_choking && p->coop)
            swarm_refill_next_pass(s);
        else
            swarm_refill_soon(s);
        break;
    }
    case BL_MSG_EXTENDED:
        if (!(p->caps & BL_WIRE_CAP_EXTENSION)) {
            peer_close(p, "extension message without the extension protocol");
            return;
        }
        got_extended(p, m);
        break;
    }
}

static void got_handshake(peer *p, const bl_handshake *hs)
{
    bl_swarm *s = p->sw;
    if (memcmp(hs->info_hash, s->mi->info_hash, 20) != 0) {
        peer_close(p, "handshake for another torrent");
        return;
    }
    if (memcmp(hs->peer_id, s->peer_id, 20) == 0) {
        if (p->outgoing) {
            candidate *c = swarm_candidate(s, (struct sockaddr *)&p->addr, p->addr_len, false);
            if (c)
                c->banned = true;
        }
        peer_close(p, "connected to ourselves");
        return;
    }
    memcpy(p->peer_id, hs->peer_id, 20);
    p->hs_received = true;
    if (p->outgoing) {
        /* it answered: its next failure starts the back-off (and the count
         * that makes us forget it, swarm.c) from the start */
        candidate *c = swarm_candidate(s, (struct sockaddr *)&p->addr, p->addr_len, false);
        if (c)
            c->failures = 0;
    }
    peer *dup = swarm_find_peer_id(s, hs->peer_id, p);
    if (dup) {
        /* Both sides dialled each other: keep the connection opened by the
         * side with the smaller peer id, so both close the same one. */
        bool keep_mine = memcmp(s->peer_id, hs->peer_id, 20) < 0;
        peer *loser = (p->outgoing == keep_mine) ? dup : p;
        /* the peer stays connected through the other one: its candidate
         * entries must stay marked connected, or it is dialled again and
         * again (seen: a duplicate closed every ~1.4 s per pair) */
        loser->duplicate = true;
        peer *kept = loser == p ? dup : p;
        if (loser->outgoing && !kept->outgoing && !kept->listen_port)
            kept->listen_port = bl_net_port((struct sockaddr *)&loser->addr);
        peer_close(loser, "duplicate connection");
        if (loser == p)
            return;
    }
    p->caps = hs->caps & (BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
    if (!p->hs_sent) {
        bl_wire_handshake_encode(&p->out, s->mi->info_hash, s->peer_id,
                                 BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
        p->hs_sent = true;
    }
    if (p->outgoing)
        p->endpoint_ms = now_ms(p);
    if (s->cfg.secret) {
        if (!(p->caps & BL_WIRE_CAP_EXTENSION) && !s->cfg.allow_stock) {
            peer_close(p, "refused: a stock client without the extension protocol in a private "
                          "swarm (--allow-stock admits them)");
            return;
        }
        if (p->caps & BL_WIRE_CAP_EXTENSION) {
            /* stay in PEER_HANDSHAKE until the peer proves the secret */
            if (peer_auth_start(p) < 0)
                return;
            send_ext_handshake(p);
            peer_flush(p);
            return;
        }
        p->stock_admitted = true;
    } else if (p->caps & BL_WIRE_CAP_EXTENSION) {
        send_ext_handshake(p);
    }
    peer_activate(p);
}

/* From now on the peer takes part: bitfields, choking, requests, PEX. */
void peer_activate(peer *p)
{
    bl_swarm *s = p->sw;
    p->state = PEER_ACTIVE;
    send_bitfield(p);
    if (s->cfg.secret && (p->caps & BL_WIRE_CAP_EXTENSION)) {
        bool coop = p->ext.bitlib_coop && s->cfg.policy == BL_POLICY_COOPERATIVE;
        ext_handshake_effects(p, coop, 0);
    }
    peer_flush(p);
    if (p->state == PEER_ACTIVE && s->cfg.policy == BL_POLICY_STOCK)
        swarm_rechoke(s);
    else if (p->state == PEER_ACTIVE && (!(p->caps & BL_WIRE_CAP_EXTENSION) || p->stock_admitted))
        swarm_rechoke(s); /* a stock peer: the choker decides */
}

static void process_input(peer *p)
{
    bl_swarm *s = p->sw;
    size_t off = p->in_off;
    bl_err err;
    if (!p->hs_received) {
        bl_handshake hs;
        int rc = bl_wire_handshake_decode(p->in.data + off, p->in.len - off, &hs, &err);
        if (rc < 0) {
            peer_close(p, err.msg);
            return;
        }
        if (rc == 0)
            return;
        off += (size_t)rc;
        got_handshake(p, &hs);
        if (p->state == PEER_DEAD)
            return;
    }
    size_t start = off;
    while ((p->state == PEER_ACTIVE || p->state == PEER_HANDSHAKE) && off < p->in.len) {
        bl_msg m;
        size_t used;
        int rc = bl_wire_decode(p->in.data + off, p->in.len - off, &s->geo, NULL, &m, &used, &err);
        if (rc == BL_WIRE_ERROR) {
            peer_close(p, err.msg);
            return;
        }
        if (rc == BL_WIRE_NEED_MORE)
            break;
        handle(p, &m);
        off += used;
    }
    /* Move a partial message to the front only now and then: after every
     * read it copied up to a block per 64 KiB received. */
    if (p->state != PEER_DEAD) {
        /* the clock of PEER_MSG_TIMEOUT_MS: since the incomplete message
         * at the end began (a message completed now: it began now) */
        if (off == p->in.len)
            p->partial_ms = 0;
        else if (off != start || !p->partial_ms)
            p->partial_ms = now_ms(p);
        if (off == p->in.len) {
            bl_buf_reset(&p->in);
            off = 0;
        } else if (off >= PEER_READ_CHUNK) {
            bl_buf_consume(&p->in, off);
            off = 0;
        }
        p->in_off = off;
    }
    peer_flush(p);
}

static void on_readable(peer *p)
{
    /* Read what is there, bounded per event so one fast peer cannot starve
     * the others. */
    for (int round = 0; round < 8 && p->state != PEER_DEAD; round++) {
        if (!bl_buf_reserve(&p->in, PEER_READ_CHUNK)) {
            peer_close(p, "out of memory");
            return;
        }
        ssize_t n = recv(p->fd, p->in.data + p->in.len, PEER_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            p->in.len += (size_t)n;
            p->last_recv_ms = now_ms(p);
            process_input(p);
            if ((size_t)n < PEER_READ_CHUNK)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        char why[128];
        snprintf(why, sizeof why, "%s", n == 0 ? "peer closed the connection"
                                               : strerror(errno));
        peer_close(p, why);
        return;
    }
}

static void on_io(bl_loop *loop, int fd, unsigned events, void *arg)
{
    peer *p = arg;
    (void)loop;
    (void)fd;
    if (p->state == PEER_CONNECTING) {
        bl_err err;
        if (bl_net_connect_result(p->fd, &err) < 0) {
            peer_close(p, err.msg);
            return;
        }
        p->state = PEER_HANDSHAKE;
        bl_loop_mod(p->sw->loop, p->fd, BL_EV_READ);
        p->ev_mask = BL_EV_READ;
        bl_wire_handshake_encode(&p->out, p->sw->mi->info_hash, p->sw->peer_id,
                                 BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
        p->hs_sent = true;
        peer_flush(p);
        return;
    }
    if (events & (BL_EV_READ | BL_EV_ERROR))
        on_readable(p);
    if (p->state != PEER_DEAD && (events & BL_EV_WRITE)) {
        peer_flush(p);
        if (p->state == PEER_ACTIVE)
            peer_serve(p);
    }
}

/* Two connections with one stock peer (each side dialled the other) escape
 * the peer-id check in got_handshake when the peer uses a new id on every
 * connection, as libtorrent 2 does: both stayed open.  They are found by
 * the far end's listen address instead, once PEER_DUP_GRACE_MS have passed
 * since it became known on both -- time for a peer that settles duplicates
 * itself to do so.  Then the side with the lower listen port keeps the
 * connection it opened (libtorrent's rule, so both ends close the same
 * one); equal ports keep the older connection.  Returns true if p closed. */
static bool settle_duplicate(peer *p, uint64_t now)
{
    bl_swarm *s = p->sw;
    if (p->endpoint_checked || !p->endpoint_ms || now - p->endpoint_ms < PEER_DUP_GRACE_MS)
        return false;
    p->endpoint_checked = true;
    struct sockaddr_storage mine, theirs;
    if (!listen_endpoint(p, &mine))
        return false;
    for (peer *q = s->peers; q; q = q->next) {
        if (q == p || q->state != PEER_ACTIVE || q->outgoing == p->outgoing || !q->endpoint_ms ||
            now - q->endpoint_ms < PEER_DUP_GRACE_MS || q->addr_len != p->addr_len ||
            !listen_endpoint(q, &theirs) || memcmp(&mine, &theirs, p->addr_len) != 0)
            continue;
        uint16_t far = bl_net_port((struct sockaddr *)&mine);
        peer *ours = p->outgoing ? p : q, *its = p->outgoing ? q : p;
        peer *loser;
        if (s->listen_port != far)
            loser = s->listen_port < far ? its : ours;
        else
            loser = p->connected_ms >= q->connected_ms ? p : q;
        /* the peer stays connected through the other: candidates stay marked */
        loser->duplicate = true;
        peer_close(loser, "duplicate connection (the same peer reached both ways)");
        return loser == p;
    }
    return false;
}

void peer_tick(peer *p, uint64_t now)
{
    bl_swarm *s = p->sw;
    if (p->state == PEER_CONNECTING) {
        if (now - p->connected_ms > PEER_CONNECT_TIMEOUT_MS)
            peer_close(p, "connect timed out");
        return;
    }
    if (p->state == PEER_HANDSHAKE) {
        if (now - p->connected_ms > PEER_HANDSHAKE_TIMEOUT_MS)
            peer_close(p, "no handshake in time");
        return;
    }
    if (p->state != PEER_ACTIVE)
        return;
    peer_expire_promises(p, now);
    if (now - p->last_recv_ms > PEER_IDLE_TIMEOUT_MS) {
        peer_close(p, "silent for too long");
        return;
    }
    if (p->partial_ms && now - p->partial_ms > PEER_MSG_TIMEOUT_MS) {
        char why[128];
        snprintf(why, sizeof why, "stalled mid-message: %zu bytes of a message begun %u s ago, "
                 "the rest never came", p->in.len - p->in_off, PEER_MSG_TIMEOUT_MS / 1000);
        peer_close(p, why);
        return;
    }
    bool unproven = !p->peer_choking && !p->last_good_block_ms && p->first_request_ms;
    if (unproven && p->outstanding && !p->withdrawn &&
        now - p->first_request_ms > PEER_FIRST_BLOCK_GRACE_MS) {
        if (p->withdrawals >= PEER_WITHDRAWALS_MAX) {
            p->useless = true;
            peer_close(p, "unchoked us and answered no request, again and again");
            return;
        }
        peer_withdraw(p);
    }
    if (unproven && (p->outstanding || p->withdrawn) &&
        now - p->first_request_ms > PEER_FIRST_BLOCK_TIMEOUT_MS) {
        /* it claims pieces and unchokes us, but serves nothing: a fake
         * seed or lying HAVEs.  Its requests go to others at once. */
        char why[128];
        snprintf(why, sizeof why, "claims pieces but answered none of our %llu requests in %u s",
                 (unsigned long long)p->requests_sent, PEER_FIRST_BLOCK_TIMEOUT_MS / 1000);
        p->useless = true;
        peer_close(p, why);
        return;
    }
    if (settle_duplicate(p, now))
        return;
    if (p->am_interested != want_interest(p, now))
        set_interest(p); /* a stock peer's lingering interest ran out */
    if (p->outstanding && !p->peer_choking && now - p->last_block_ms > PEER_REQUEST_TIMEOUT_MS) {
        bl_info("peer %s: %u requests unanswered for %u s; asking others", p->name,
                p->outstanding, PEER_REQUEST_TIMEOUT_MS / 1000);
        bl_picker_peer_released(s->picker, p->id);
        p->outstanding = 0;
        p->last_block_ms = now;
        p->pipeline = PEER_PIPELINE_MIN;
    }
    /* Pipeline: enough requests in flight to cover a moment of the measured
     * rate, so a fast link never waits for our next request.  No deeper:
     * a peer serves in arrival order, so a deep queue is latency for the
     * pieces at its end -- the swarm's tail -- and requests queued long at
     * a seeder for pieces that meanwhile spread to other peers are wasted
     * seeder bandwidth.  Cooperative peers are cluster nodes, milliseconds
     * apart: 1/8 s (at least PEER_PIPELINE_START blocks).  bench/swarm,
     * alternating bitlib-only runs: N=16 0.5 s took 3.70-4.15 s (seed
     * 1.03-1.05 F), 0.25 s 3.41-3.71 s, 0.125 s 3.32-3.71 s (median 3.43,
     * 1.01-1.03 F); N=8 0.25 s 3.13-3.14 s, 0.125 s 3.05-3.08 s.  Stock
     * peers may be far away: 0.5 s, as before those runs. */
    uint64_t target = p->rate_down / (p->coop ? 8 : 2) / BL_BLOCK_SIZE;
    if (target < PEER_PIPELINE_START)
        target = PEER_PIPELINE_START;
    if (target > PEER_PIPELINE_MAX)
        target = PEER_PIPELINE_MAX;
    /* A seed's upload is shared by everyone: a short queue there keeps the
     * seed's pieces going to many requesters instead of one deep queue. */
    if (p->coop && peer_is_seeder(p) && !bl_store_complete(s->store) && target > PEER_SEED_PIPELINE)
        target = PEER_SEED_PIPELINE;
    p->pipeline = (uint32_t)target;
    if (now - p->last_send_ms >= PEER_KEEPALIVE_MS)
        bl_wire_put_keepalive(&p->out);
    /* Cooperative peers hear about newcomers within a second, so a swarm
     * meshes at once instead of leaning on whoever it met first. */
    uint64_t pex_every = p->coop ? PEER_PEX_COOP_MS : PEER_PEX_INTERVAL_MS;
    if (p->ext_pex_id && now - p->last_pex_ms >= pex_every &&
        (!p->coop || p->pex_generation != s->peer_generation))
        peer_send_pex(p);
    peer_fill_requests(p);
    if (p->state == PEER_ACTIVE)
        peer_serve(p);
}
