/* swarm: the session that ties store, picker, peers and trackers together
 * (contract in swarm.h; one connection's protocol handling is in peer.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "swarm/swarm_int.h"
#include "swarm/tracker_glue.h"

static void piece_hashed(void *arg, uint64_t tag, const uint8_t digest[BL_SHA1_LEN]);

#define TICK_MS 250
#define DEFAULT_MAX_PEERS 80
#define MAX_CANDIDATES 4096
/* A candidate whose dials failed this many times in a row (backing off 1, 2,
 * 4 ... 64 s: about 4 minutes in all) is forgotten: a long-lived daemon meets
 * thousands of short-lived peers (every job's mounts listen on a new port),
 * and dialling the dead ones forever would waste its dials. */
#define CANDIDATE_FORGET_FAILURES 8
#define DIALS_PER_TICK 16
#define PEX_GATHER_MS 10

static void tick(bl_loop *loop, void *arg);

/* Raise the soft fd limit to the hard one: the store keeps every data file
 * open when the limit allows (it sizes its cache at open), and peers need
 * sockets. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static uint32_t last_piece_len(const bl_metainfo *mi)
{
    return mi->num_pieces ? bl_metainfo_piece_size(mi, mi->num_pieces - 1) : 1;
}

bl_swarm *bl_swarm_new(bl_loop *loop, const bl_swarm_config *cfg, bl_err *err)
{
    const bl_metainfo *mi = cfg->mi;
    if (mi->num_pieces == 0) {
        bl_fail(err, "the description has no data to move");
        return NULL;
    }
    if (mi->piece_length > UINT32_MAX) {
        bl_fail(err, "piece length too large");
        return NULL;
    }
    bl_swarm *s = calloc(1, sizeof *s);
    if (!s) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->mi = mi;
    s->listen_fd = -1;
    if (!s->cfg.max_peers)
        s->cfg.max_peers = DEFAULT_MAX_PEERS;
    if (!s->cfg.upload_slots)
        s->cfg.upload_slots = 4;
    if (!s->cfg.first_announce_s)
        s->cfg.first_announce_s = 5;
    s->geo.num_pieces = mi->num_pieces;
    s->geo.piece_length = (uint32_t)mi->piece_length;
    s->geo.last_piece_length = last_piece_len(mi);
    if (bl_wire_peer_id(s->peer_id, err) < 0)
        goto fail;
    if (bl_bitfield_init(&s->intent_sent, mi->num_pieces, err) < 0)
        goto fail;
    raise_fd_limit();
    s->store = bl_store_open(mi, cfg->dir, cfg->seed ? BL_STORE_READONLY : BL_STORE_CREATE, err);
    if (!s->store)
        goto fail;
    /* pieces being assembled are buffered in memory: bound them by bytes */
    unsigned pending = (unsigned)((64u << 20) / mi->piece_length);
    bl_store_set_limits(s->store, pending < 8 ? 8 : pending, 0);
    /* BITLIB_HASH_BATCH=0 hashes each piece alone, for side-by-side measurements */
    const char *batch = getenv("BITLIB_HASH_BATCH");
    s->hasher = bl_sha1_batch_new(!batch || strcmp(batch, "0") != 0, piece_hashed, s, err);
    if (!s->hasher)
        goto fail;
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
    s->picker = bl_picker_new(mi->num_pieces, (uint32_t)mi->piece_length, s->geo.last_piece_length,
                              BL_BLOCK_SIZE, seed);
    if (!s->picker) {
        bl_fail(err, "out of memory");
        goto fail;
    }
    /* trailing padding is zeros by definition: nobody needs to send it
     * (about 2% of the bytes of a library set with 16 KiB pieces) */
    for (uint32_t i = 0; i < mi->num_pieces; i++) {
        uint32_t dlen = bl_metainfo_piece_data_len(mi, i);
        if (dlen < bl_metainfo_piece_size(mi, i))
            bl_picker_set_piece_length(s->picker, i, dlen);
    }
    if (cfg->policy == BL_POLICY_STOCK)
        bl_picker_set_endgame_extra(s->picker, BL_ENDGAME_STOCK);
    else {
        bl_picker_set_spare_seeds(s->picker, true);
        bl_picker_set_endgame_delay(s->picker, 500);
    }
    bl_choker_init(&s->choker, s->cfg.upload_slots, seed ^ 0x5bd1e995u);

    int64_t had = bl_store_check(s->store, cfg->hash_threads, NULL, NULL, err);
    if (had < 0)
        goto fail;
    for (uint32_t i = 0; i < mi->num_pieces; i++)
        if (bl_store_have(s->store, i))
            bl_picker_piece_verified(s->picker, i);
    if (cfg->seed && (uint64_t)had != mi->num_pieces) {
        /* name the first file that does not match, so the user knows where to look */
        const char *where = "?";
        uint32_t bad = 0;
        while (bad < mi->num_pieces && bl_store_have(s->store, bad))
            bad++;
        uint64_t off = (uint64_t)bad * mi->piece_length;
        for (size_t f = 0; f < mi->num_files; f++) {
            const bl_mfile *mf = &mi->files[f];
            if ((mf->attr & BL_ATTR_PAD) || !mf->length)
                continue;
            if (mf->offset + mf->length > off) {
                where = mf->path;
                break;
            }
        }
        bl_fail(err, "%s does not match the description: %u of %u pieces differ or are "
                     "missing (first in '%s')", cfg->dir, mi->num_pieces - (uint32_t)had,
                mi->num_pieces, where);
        goto fail;
    }
    s->st.pieces_total = mi->num_pieces;
    s->st.pieces_had = (uint32_t)had;
    if (cfg->policy == BL_POLICY_COOPERATIVE) {
        s->sent_ms = calloc(mi->num_pieces, sizeof *s->sent_ms);
        s->sent_to = calloc(mi->num_pieces, sizeof *s->sent_to);
        if (!s->sent_ms || !s->sent_to) {
            bl_fail(err, "out of memory");
            goto fail;
        }
    }
    return s;
fail:
    bl_swarm_free(s);
    return NULL;
}

/* ---- candidates: addresses we may dial ---------------------------------- */

static bool same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr *b,
                      socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

candidate *swarm_candidate(bl_swarm *s, const struct sockaddr *sa, socklen_t len, bool create)
{
    for (size_t i = 0; i < s->num_cands; i++)
        if (same_addr(&s->cands[i].addr, s->cands[i].len, sa, len))
            return &s->cands[i];
    if (!create || len > sizeof(struct sockaddr_storage))
        return NULL;
    if (s->num_cands >= MAX_CANDIDATES) {
        /* full: reuse the entry of a peer we are not connected to (the one
         * that failed most), so a long-lived daemon still learns new peers
         * after meeting MAX_CANDIDATES others; banned entries stay */
        candidate *victim = NULL;
        for (size_t i = 0; i < s->num_cands; i++) {
            candidate *c = &s->cands[i];
            if (!c->connected && !c->banned && (!victim || c->failures > victim->failures))
                victim = c;
        }
        if (!victim)
            return NULL;
        memset(victim, 0, sizeof *victim);
        memcpy(&victim->addr, sa, len);
        victim->len = len;
        return victim;
    }
    if (s->num_cands == s->cap_cands) {
        size_t cap = s->cap_cands ? s->cap_cands * 2 : 32;
        candidate *nc = realloc(s->cands, cap * sizeof *nc);
        if (!nc)
            return NULL;
        s->cands = nc;
        s->cap_cands = cap;
    }
    candidate *c = &s->cands[s->num_cands++];
    memset(c, 0, sizeof *c);
    memcpy(&c->addr, sa, len);
    c->len = len;
    return c;
}

static void dial_now(bl_loop *loop, void *arg);

int bl_swarm_add_peer(bl_swarm *s, const struct sockaddr *sa, socklen_t len)
{
    if (s->listen_fd >= 0) {
        struct sockaddr_storage me;
        socklen_t mlen = sizeof me;
        if (getsockname(s->listen_fd, (struct sockaddr *)&me, &mlen) == 0 &&
            same_addr(&me, mlen, sa, len))
            return 0; /* ourselves */
    }
    if (swarm_candidate(s, sa, len, false))
        return 0;
    if (!swarm_candidate(s, sa, len, true))
        return -1;
    /* dial a new candidate at once rather than at the next tick: nodes
     * starting together find each other in milliseconds */
    if (!s->dial_timer)
        s->dial_timer = bl_loop_timer(s->loop, 0, dial_now, s);
    return 0;
}

void swarm_pex_learned(bl_swarm *s, const struct sockaddr *sa, socklen_t len)
{
    bl_swarm_add_peer(s, sa, len);
}

static void dial(bl_swarm *s, candidate *c)
{
    bl_err err;
    bool in_progress = false;
    char name[BL_NET_ADDRSTRLEN];
    s->st.dials++;
    int fd = bl_net_tcp_connect((struct sockaddr *)&c->addr, c->len, &in_progress, &err);
    if (fd < 0) {
        c->failures++;
        c->next_try_ms = bl_loop_now_ms(s->loop) + (1000ull << (c->failures < 6 ? c->failures : 6));
        bl_debug("dial %s: %s", bl_net_format((struct sockaddr *)&c->addr, c->len, name,
                                              sizeof name), err.msg);
        return;
    }
    bl_net_set_nodelay(fd, true, NULL);
    peer *p = peer_new(s, fd, true, (struct sockaddr *)&c->addr, c->len, in_progress);
    if (!p) {
        close(fd);
        return;
    }
    c->connected = true;
}

static void dial_some(bl_swarm *s, uint64_t now);

static void dial_now(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    s->dial_timer = 0;
    dial_some(s, bl_loop_now_ms(loop));
}

static void dial_some(bl_swarm *s, uint64_t now)
{
    int dialled = 0;
    /* a seed does not dial: leechers come to it */
    if (s->cfg.seed || s->stopping)
        return;
    for (size_t i = 0; i < s->num_cands && dialled < DIALS_PER_TICK; i++) {
        candidate *c = &s->cands[i];
        if (s->num_peers >= s->cfg.max_peers)
            return;
        if (c->connected || c->banned || c->next_try_ms > now)
            continue;
        if (c->failures >= CANDIDATE_FORGET_FAILURES) {
            /* gone for good: drop it (the last entry takes its place) */
            *c = s->cands[--s->num_cands];
            i--;
            continue;
        }
        dial(s, c);
        dialled++;
    }
}

/* ---- listening ------------------------------------------------------------ */

/* Room for one more connection from ss's host (BL_SWARM_PER_HOST_MAX)? */
static bool host_has_room(bl_swarm *s, const struct sockaddr *sa, socklen_t len)
{
    if (bl_net_is_loopback(sa))
        return true;
    unsigned n = 0;
    for (const peer *p = s->peers; p; p = p->next)
        if (bl_net_same_host((const struct sockaddr *)&p->addr, sa))
            n++;
    if (n < BL_SWARM_PER_HOST_MAX)
        return true;
    uint32_t r = ++s->host_refusals;
    if ((r & (r - 1)) == 0) {
        char name[BL_NET_ADDRSTRLEN];
        bl_warn("refused a connection from %s: it has %u open already, the most one host may "
                "have (BL_SWARM_PER_HOST_MAX; %u refused so far)",
                bl_net_format(sa, len, name, sizeof name), n, r);
    }
    return false;
}

static void on_accept(bl_loop *loop, int fd, unsigned events, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    (void)events;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        bl_err err;
        int cfd = bl_net_accept(fd, &ss, &len, &err);
        if (cfd == BL_NET_AGAIN)
            return;
        if (cfd < 0) {
            bl_warn("accept on %s: %s", s->listen_name, err.msg);
            return;
        }
        if (s->num_peers >= s->cfg.max_peers || s->stopping) {
            close(cfd);
            continue;
        }
        if (!host_has_room(s, (struct sockaddr *)&ss, len)) {
            close(cfd);
            continue;
        }
        bl_net_set_nodelay(cfd, true, NULL);
        if (!peer_new(s, cfd, false, (struct sockaddr *)&ss, len, false))
            close(cfd);
    }
}

int bl_swarm_start(bl_swarm *s, bl_err *err)
{
    if (s->cfg.listen) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (bl_net_parse_hostport(s->cfg.listen, &ss, &len, err) < 0)
            return bl_fail_ctx(err, "--listen %s", s->cfg.listen);
        s->listen_fd = bl_net_tcp_listen((struct sockaddr *)&ss, len, 0, err);
        if (s->listen_fd < 0)
            return bl_fail_ctx(err, "listen on %s", s->cfg.listen);
        if (bl_net_local_addr(s->listen_fd, &ss, &len, err) < 0)
            return -1;
        bl_net_format((struct sockaddr *)&ss, len, s->listen_name, sizeof s->listen_name);
        s->listen_port = bl_net_port((struct sockaddr *)&ss);
        if (bl_loop_add(s->loop, s->listen_fd, BL_EV_READ, on_accept, s, err) < 0)
            return -1;
        bl_info("listening for peers on %s", s->listen_name);
    }
    if (s->cfg.use_trackers && s->mi->num_tiers) {
        if (swarm_tracker_start(s, err) < 0)
            return -1;
    }
    s->last_rate_ms = s->last_rechoke_ms = bl_loop_now_ms(s->loop);
    if (!s->cfg.seed)
        swarm_wanted_now(s); /* a node may read at once: stock seeders unchoke it meanwhile */
    s->tick_timer = bl_loop_timer(s->loop, 0, tick, s);
    if (bl_swarm_complete(s) && s->cfg.on_complete && !s->cfg.seed) {
        s->completed_fired = true;
        s->cfg.on_complete(s->cfg.arg);
    }
    return 0;
}

const char *bl_swarm_listen_addr(const bl_swarm *s) { return s->listen_name; }

/* ---- what we want --------------------------------------------------------- */

static void flush_all(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    s->flush_timer = 0;
    for (peer *p = s->peers, *next; p; p = next) { /* flushing may close p */
        next = p->next;
        if (p->state == PEER_ACTIVE && (p->out.len > p->out_off || p->span_count))
            peer_flush(p);
    }
}

void swarm_defer_flush(bl_swarm *s)
{
    if (!s->flush_timer)
        s->flush_timer = bl_loop_timer(s->loop, 0, flush_all, s);
}

static void pex_now(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    s->pex_timer = 0;
    uint64_t now = bl_loop_now_ms(loop), wait = 0;
    for (peer *p = s->peers, *next; p; p = next) { /* telling may close p */
        next = p->next;
        uint64_t w = peer_pex_due(p, now);
        if (w && (!wait || w < wait))
            wait = w;
    }
    if (wait)
        s->pex_timer = bl_loop_timer(loop, wait, pex_now, s);
}

void swarm_pex_soon(bl_swarm *s)
{
    /* a few ms, so that peers joining together go out in one message */
    if (!s->pex_timer && s->cfg.policy == BL_POLICY_COOPERATIVE)
        s->pex_timer = bl_loop_timer(s->loop, PEX_GATHER_MS, pex_now, s);
}

static void fill_every_peer(bl_swarm *s)
{
    for (peer *p = s->peers, *next; p; p = next) { /* filling may close p */
        next = p->next;
        peer_fill_requests(p);
    }
}

static void refill_all(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    s->refill_timer = 0;
    fill_every_peer(s);
}

static void refill_all_now(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    s->refill_now_timer = 0;
    fill_every_peer(s);
}

void swarm_refill_soon(bl_swarm *s)
{
    if (!s->refill_timer)
        s->refill_timer = bl_loop_timer(s->loop, REFILL_AFTER_REJECT_MS, refill_all, s);
}

void swarm_refill_next_pass(bl_swarm *s)
{
    if (!s->refill_now_timer)
        s->refill_now_timer = bl_loop_timer(s->loop, 0, refill_all_now, s);
}

static void close_all(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    s->changed_timer = 0;
    unsigned n = 0;
    for (peer *p = s->peers, *next; p; p = next) {
        next = p->next;
        peer_close(p, "the copy we serve changed on disk: reconnect to learn what still matches");
        n++;
    }
    bl_warn("the served copy changed on disk: %u pieces no longer match; closed %u connections "
            "so that peers learn what is still served", (unsigned)bl_store_pieces_lost(s->store),
            n);
}

void swarm_store_changed(bl_swarm *s)
{
    if (!s->changed_timer)
        s->changed_timer = bl_loop_timer(s->loop, 0, close_all, s);
}

bool swarm_wants_piece(const bl_swarm *s, uint32_t piece)
{
    return !bl_store_have(s->store, piece) && bl_picker_priority(s->picker, piece) != BL_PRIO_NONE;
}

void swarm_wanted_now(bl_swarm *s)
{
    s->last_want_ms = bl_loop_now_ms(s->loop);
}

void bl_swarm_want(bl_swarm *s, uint32_t first, uint32_t last, enum bl_prio cls)
{
    if (s->cfg.seed || first >= s->mi->num_pieces)
        return;
    if (cls != BL_PRIO_NONE)
        swarm_wanted_now(s);
    if (last >= s->mi->num_pieces)
        last = s->mi->num_pieces - 1;
    for (uint32_t i = first; i <= last; i++) {
        bool was = swarm_wants_piece(s, i);
        bl_picker_set_priority(s->picker, i, i, cls, false);
        if (was || !swarm_wants_piece(s, i))
            continue;
        /* newly wanted: peers that have it become interesting */
        for (peer *p = s->peers; p; p = p->next)
            if (p->state == PEER_ACTIVE && bl_bitfield_test(&p->have, i))
                p->wanted_count++;
    }
    s->completed_fired = s->completed_fired && bl_swarm_complete(s);
    for (peer *p = s->peers, *next; p; p = next) { /* filling may close p */
        next = p->next;
        if (p->state != PEER_ACTIVE)
            continue;
        if (p->wanted_count && !p->am_interested) {
            p->am_interested = true;
            bl_wire_put_simple(&p->out, BL_MSG_INTERESTED);
        }
        peer_fill_requests(p);
    }
}

void bl_swarm_want_all(bl_swarm *s, enum bl_prio cls)
{
    bl_swarm_want(s, 0, s->mi->num_pieces - 1, cls);
}

void bl_swarm_deadline(bl_swarm *s, uint32_t piece, uint64_t deadline_ms)
{
    if (piece >= s->mi->num_pieces || bl_store_have(s->store, piece))
        return;
    bl_swarm_want(s, piece, piece, BL_PRIO_DEADLINE);
    bl_picker_set_deadline(s->picker, piece, deadline_ms);
    for (peer *p = s->peers, *next; p; p = next) { /* filling may close p */
        next = p->next;
        peer_fill_requests(p);
    }
}

bool bl_swarm_complete(const bl_swarm *s)
{
    bl_picker_stats ps;
    bl_picker_get_stats(s->picker, &ps);
    return ps.wanted == 0;
}

bl_store *bl_swarm_store(bl_swarm *s) { return s->store; }

/* ---- pieces --------------------------------------------------------------- */

static struct contrib *contrib_find(bl_swarm *s, uint32_t piece)
{
    for (size_t i = 0; i < s->num_contrib; i++)
        if (s->contrib[i].piece == piece)
            return &s->contrib[i];
    return NULL;
}

static void contrib_drop(bl_swarm *s, uint32_t piece)
{
    struct contrib *c = contrib_find(s, piece);
    if (c)
        *c = s->contrib[--s->num_contrib];
}

void swarm_contrib_add(bl_swarm *s, uint32_t piece, uint32_t peer_id)
{
    struct contrib *c = contrib_find(s, piece);
    if (!c) {
        if (s->num_contrib == s->cap_contrib) {
            size_t cap = s->cap_contrib ? s->cap_contrib * 2 : 64;
            struct contrib *nc = realloc(s->contrib, cap * sizeof *nc);
            if (!nc)
                return;
            s->contrib = nc;
            s->cap_contrib = cap;
        }
        c = &s->contrib[s->num_contrib++];
        c->piece = piece;
        c->n = 0;
    }
    for (uint8_t i = 0; i < c->n; i++)
        if (c->ids[i] == peer_id)
            return;
    if (c->n < 4)
        c->ids[c->n++] = peer_id;
}

static void solo_drop(bl_swarm *s, uint32_t piece)
{
    for (uint32_t i = 0; i < s->num_solo; i++)
        if (s->solo[i].piece == piece) {
            s->solo[i] = s->solo[--s->num_solo];
            return;
        }
}

void swarm_solo_peer_gone(bl_swarm *s, uint32_t peer_id)
{
    for (uint32_t i = 0; i < s->num_solo;)
        if (s->solo[i].peer_id == peer_id)
            s->solo[i] = s->solo[--s->num_solo];
        else
            i++;
}

/* What p may be asked for: its bitfield without the pieces reserved for
 * another peer and those it rejected a moment ago, or NULL when nothing is
 * left out (use p's own). */
const uint8_t *swarm_request_mask(bl_swarm *s, peer *p)
{
    peer_expire_rejects(p, bl_loop_now_ms(s->loop));
    if (!s->num_solo && !p->rej_len)
        return NULL;
    size_t len = bl_bitfield_bytes(s->mi->num_pieces);
    if (!s->solo_mask && !(s->solo_mask = malloc(len)))
        return NULL;
    memcpy(s->solo_mask, p->have.bits, len);
    for (uint32_t i = 0; i < s->num_solo; i++)
        if (s->solo[i].peer_id != p->id)
            s->solo_mask[s->solo[i].piece / 8] &= (uint8_t)~(0x80u >> (s->solo[i].piece % 8));
    for (uint32_t k = 0; k < p->rej_len; k++) {
        uint32_t i = p->rejects[(p->rej_head + k) % PEER_REJECT_MARKS].piece;
        s->solo_mask[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    }
    return s->solo_mask;
}

/* ---- verification ----------------------------------------------------------- */

/* ---- a store that cannot write ---------------------------------------------- */

#define STORE_RETRY_MIN_MS 5000
#define STORE_RETRY_MAX_MS 60000
#define STORE_ROOM_PIECES 4    /* free space that makes a retry worth it (ENOSPC) */

bool swarm_paused(const bl_swarm *s) { return s->store_failing; }

/* A verified piece could not be written: a local error.  Count it, stop
 * asking for pieces (every one would need room) and tell the front end,
 * once per episode: a full cache must not turn into a download loop. */
static void store_failed(bl_swarm *s, uint32_t piece, const bl_err *err)
{
    int e = bl_store_write_errno(s->store);
    s->st.write_errors++;
    s->st.bytes_wasted += bl_metainfo_piece_size(s->mi, piece);
    bl_picker_piece_failed(s->picker, piece);
    contrib_drop(s, piece);
    if (s->store_failing)
        return;
    s->store_failing = true;
    s->st.store_errno = e;
    uint64_t wait = (uint64_t)STORE_RETRY_MIN_MS << (s->store_episodes < 4 ? s->store_episodes : 4);
    s->store_retry_ms = bl_loop_now_ms(s->loop) + (wait < STORE_RETRY_MAX_MS ? wait : STORE_RETRY_MAX_MS);
    s->store_episodes++;
    bl_error("%s: cannot store verified data: %s; downloads pause until writes can work "
             "again (local data stays readable; this is not the peers' fault)", s->cfg.dir,
             err->msg);
    if (s->cfg.on_store_failing)
        s->cfg.on_store_failing(s->cfg.arg, e);
}

/* From the tick: try again once the back-off is over and, for a full file
 * system, once there is room for a few pieces. */
static void store_maybe_resume(bl_swarm *s, uint64_t now)
{
    if (!s->store_failing || now < s->store_retry_ms)
        return;
    int e = s->st.store_errno;
    if (e == ENOSPC) {
        int64_t room = bl_store_free_bytes(s->store);
        if (room >= 0 && (uint64_t)room < STORE_ROOM_PIECES * s->mi->piece_length)
            return;
    }
    s->store_failing = false;
    s->st.store_errno = 0;
    bl_info("%s: trying to store pieces again (it failed with: %s)", s->cfg.dir, strerror(e));
    if (s->cfg.on_store_failing)
        s->cfg.on_store_failing(s->cfg.arg, 0);
    for (peer *p = s->peers, *next; p; p = next) { /* filling may close p */
        next = p->next;
        peer_fill_requests(p);
    }
}

static void piece_hashed(void *arg, uint64_t tag, const uint8_t digest[BL_SHA1_LEN])
{
    bl_swarm *s = arg;
    uint32_t piece = (uint32_t)tag;
    bl_err err;
    int rc = bl_store_piece_hashed(s->store, piece, digest, &err);
    if (rc == 0)
        swarm_piece_verified(s, piece);
    else if (rc == BL_STORE_HASH_FAIL)
        swarm_piece_failed(s, piece);
    else if (rc == BL_STORE_WRITE_FAIL)
        store_failed(s, piece, &err);
    else {
        bl_error("piece %u: %s", piece, err.msg);
        bl_picker_piece_failed(s->picker, piece);
    }
}

static void hash_now(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    (void)loop;
    s->hash_timer = 0;
    bl_sha1_batch_flush(s->hasher);
}

/* A complete piece is hashed together with others (core/sha1batch): it waits
 * until the lanes are full, at most HASH_BATCH_WAIT_MS -- or only until the
 * end of this loop pass when a reader is waiting for it. */
void swarm_verify_piece(bl_swarm *s, uint32_t piece)
{
    bl_err err;
    uint32_t len;
    const uint8_t *data = bl_store_piece_data(s->store, piece, &len, &err);
    if (!data || bl_sha1_batch_submit(s->hasher, data, len, piece, &err) < 0) {
        bl_error("piece %u: %s", piece, err.msg);
        bl_picker_piece_failed(s->picker, piece);
        return;
    }
    if (!bl_sha1_batch_waiting(s->hasher))
        return;
    bool urgent = bl_picker_priority(s->picker, piece) <= BL_PRIO_OPENED;
    if (urgent && s->hash_timer) {
        bl_loop_timer_cancel(s->loop, s->hash_timer);
        s->hash_timer = 0;
    }
    if (!s->hash_timer)
        s->hash_timer = bl_loop_timer(s->loop, urgent ? 0 : HASH_BATCH_WAIT_MS, hash_now, s);
}

void swarm_piece_verified(bl_swarm *s, uint32_t piece)
{
    swarm_wanted_now(s); /* the linger counts from the last arrival */
    s->store_episodes = 0; /* writes work */
    contrib_drop(s, piece);
    solo_drop(s, piece);
    bl_picker_piece_verified(s->picker, piece);
    s->st.pieces_had++;
    for (peer *p = s->peers; p; p = p->next)
        peer_send_have(p, piece);
    swarm_defer_flush(s);
    if (s->cfg.on_piece)
        s->cfg.on_piece(s->cfg.arg, piece);
    if (!s->completed_fired && bl_swarm_complete(s)) {
        s->completed_fired = true;
        if (bl_store_complete(s->store))
            swarm_tracker_completed(s);
        if (s->cfg.on_complete)
            s->cfg.on_complete(s->cfg.arg);
    }
}

static bool convicted(const bl_swarm *s, uint32_t peer_id)
{
    uint32_t n = s->num_convicted < 32 ? s->num_convicted : 32;
    for (uint32_t i = 0; i < n; i++)
        if (s->convicted[i] == peer_id)
            return true;
    return false;
}

void swarm_piece_failed(bl_swarm *s, uint32_t piece)
{
    struct contrib *c = contrib_find(s, piece);
    uint32_t ids[4];
    uint8_t n = 0;
    if (c) {
        n = c->n;
        memcpy(ids, c->ids, sizeof ids);
        contrib_drop(s, piece);
    }
    s->st.hash_failures++;
    s->st.bytes_wasted += bl_metainfo_piece_size(s->mi, piece);
    bl_picker_piece_failed(s->picker, piece);
    /* A peer already dropped for bad data may have left blocks in this piece:
     * that explains the failure, and its honest co-contributors get no strike
     * (else a liar's leftovers would get the honest seed banned too). */
    for (uint8_t i = 0; i < n; i++)
        if (convicted(s, ids[i])) {
            bl_warn("piece %u failed its hash check (it held blocks from a peer already "
                    "dropped for bad data)", piece);
            return;
        }
    solo_drop(s, piece);
    if (n > 1) {
        /* Several peers filled it: any of them may have lied.  Blame no one
         * yet; fetch it again from the most suspect contributor alone, so
         * the next failure is a sole source's. */
        peer *suspect = NULL;
        for (peer *p = s->peers; p; p = p->next)
            for (uint8_t i = 0; i < n; i++)
                if (p->id == ids[i] && p->state == PEER_ACTIVE &&
                    bl_bitfield_test(&p->have, piece)) {
                    p->suspicion++;
                    /* most suspect first; between equals, the one that has had
                     * fewer turns, so a liar and an honest peer alternate */
                    if (!suspect || p->suspicion > suspect->suspicion ||
                        (p->suspicion == suspect->suspicion &&
                         p->solo_turns < suspect->solo_turns))
                        suspect = p;
                }
        if (suspect && s->num_solo < 64) {
            suspect->solo_turns++;
            s->solo[s->num_solo].piece = piece;
            s->solo[s->num_solo++].peer_id = suspect->id;
        } else {
            suspect = NULL;
        }
        bl_warn("piece %u failed its hash check (data from %u peers); fetching it again from "
                "%s", piece, n, suspect ? suspect->name : "anyone");
        return;
    }
    for (peer *p = s->peers; p;) {
        peer *next = p->next;
        for (uint8_t i = 0; i < n; i++) {
            if (p->id != ids[i])
                continue;
            /* the sole source of a bad piece is certainly lying */
            p->strikes += PEER_MAX_STRIKES;
            bl_warn("piece %u failed its hash check (data from %s)", piece, p->name);
            if (p->strikes >= PEER_MAX_STRIKES) {
                candidate *cd = swarm_candidate(s, (struct sockaddr *)&p->addr, p->addr_len,
                                                false);
                if (cd)
                    cd->banned = true;
                s->convicted[s->num_convicted++ % 32] = p->id;
                peer_close(p, "sent data that failed the hash check");
            }
        }
        p = next;
    }
}

peer *swarm_find_peer_id(bl_swarm *s, const uint8_t peer_id[20], const peer *except)
{
    for (peer *p = s->peers; p; p = p->next)
        if (p != except && p->hs_received && memcmp(p->peer_id, peer_id, 20) == 0)
            return p;
    return NULL;
}

/* ---- choking --------------------------------------------------------------- */

/* A seed ranks stock peers by what it uploaded to each since the last round
 * (fastest upload); a leecher by what it receives from each (tit-for-tat). */
static size_t choke_inputs(bl_swarm *s, bl_choke_peer *cp, size_t max)
{
    size_t n = 0;
    bool seeding = bl_store_complete(s->store);
    for (peer *p = s->peers; p && n < max; p = p->next) {
        if (p->state != PEER_ACTIVE)
            continue;
        cp[n].id = p->id;
        cp[n].interested = p->peer_interested;
        cp[n].coop = p->coop;
        cp[n].rate = seeding ? p->uploaded - p->round_up_base : p->rate_down;
        cp[n].unchoked = !p->am_choking;
        n++;
    }
    return n;
}

static void choke_apply(bl_swarm *s, const bl_choke_peer *cp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (peer *p = s->peers; p; p = p->next)
            if (p->id == cp[i].id) {
                peer_set_choke(p, !cp[i].unchoke);
                break;
            }
}

void swarm_rechoke(bl_swarm *s)
{
    bl_choke_peer cp[256];
    size_t n = choke_inputs(s, cp, 256);
    bl_choker_fill(&s->choker, cp, n);
    choke_apply(s, cp, n);
}

void swarm_rechoke_round(bl_swarm *s)
{
    bl_choke_peer cp[256];
    size_t n = choke_inputs(s, cp, 256);
    bl_choker_run(&s->choker, cp, n, bl_loop_now_ms(s->loop));
    choke_apply(s, cp, n);
    for (peer *p = s->peers; p; p = p->next)
        p->round_up_base = p->uploaded;
}

/* ---- the clock ------------------------------------------------------------- */

static void tick(bl_loop *loop, void *arg)
{
    bl_swarm *s = arg;
    uint64_t now = bl_loop_now_ms(loop);
    s->tick_timer = bl_loop_timer(loop, TICK_MS, tick, s);
    if (now - s->last_rate_ms >= 1000) {
        uint64_t dt = now - s->last_rate_ms;
        uint64_t down = 0, up = 0;
        for (peer *p = s->peers; p; p = p->next) {
            p->rate_down = p->win_down * 1000 / dt;
            p->rate_up = p->win_up * 1000 / dt;
            down += p->win_down;
            up += p->win_up;
            p->win_down = p->win_up = 0;
        }
        s->st.rate_down = down * 1000 / dt;
        s->st.rate_up = up * 1000 / dt;
        s->last_rate_ms = now;
    }
    if (now - s->last_rechoke_ms >= BL_CHOKE_RECHOKE_MS) {
        s->last_rechoke_ms = now;
        swarm_rechoke_round(s);
    }
    for (peer *p = s->peers; p;) {
        peer *next = p->next;
        peer_tick(p, now);
        p = next;
    }
    dial_some(s, now);
    store_maybe_resume(s, now);
    if (s->tc)
        swarm_tracker_stats(s);
}

/* ---- reports ---------------------------------------------------------------- */

void bl_swarm_get_stats(const bl_swarm *s, bl_swarm_stats *st)
{
    *st = s->st;
    bl_picker_stats ps;
    bl_picker_get_stats(s->picker, &ps);
    st->pieces_had = bl_store_num_had(s->store);
    st->pieces_total = s->mi->num_pieces;
    st->pieces_wanted = ps.wanted;
    st->peers = 0;
    st->peers_seeding = 0;
    for (const peer *p = s->peers; p; p = p->next) {
        if (p->state != PEER_ACTIVE)
            continue;
        st->peers++;
        if (peer_is_origin(p))
            st->peers_seeding++;
    }
}

void bl_swarm_piece_sources(const bl_swarm *s, uint32_t piece, char *out, size_t outlen)
{
    unsigned peers = 0;
    for (const peer *p = s->peers; p; p = p->next)
        peers += p->state == PEER_ACTIVE;
    uint32_t holders = piece < s->mi->num_pieces ? bl_picker_availability(s->picker, piece) : 0;
    if (!peers)
        snprintf(out, outlen, "no peer is connected");
    else if (!holders)
        snprintf(out, outlen, "none of the %u connected peers has it", peers);
    else
        snprintf(out, outlen, "%u of the %u connected peers have it (or said they are fetching "
                 "it) but it did not come", holders, peers);
}

void bl_swarm_queue(const bl_swarm *s, uint32_t in_class[BL_PRIO_COUNT])
{
    bl_picker_stats ps;
    bl_picker_get_stats(s->picker, &ps);
    memcpy(in_class, ps.in_class, sizeof ps.in_class);
}

static void peer_report(const peer *p, bl_swarm_peer_stats *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->addr, sizeof o->addr, "%s", p->name);
    snprintf(o->client, sizeof o->client, "%s", p->client);
    o->seeder = peer_is_origin(p);
    o->coop = p->coop;
    o->outgoing = p->outgoing;
    o->interested = p->am_interested;
    o->choked = p->peer_choking;
    o->downloaded = p->downloaded;
    o->uploaded = p->uploaded;
}

void swarm_remember(bl_swarm *s, const peer *p)
{
    if (s->num_history >= 4096)
        return;
    if (s->num_history == s->cap_history) {
        size_t cap = s->cap_history ? s->cap_history * 2 : 16;
        bl_swarm_peer_stats *nh = realloc(s->history, cap * sizeof *nh);
        if (!nh)
            return;
        s->history = nh;
        s->cap_history = cap;
    }
    peer_report(p, &s->history[s->num_history++]);
}

size_t bl_swarm_list_peers(const bl_swarm *s, bl_swarm_peer_stats *out, size_t max,
                           bool include_departed)
{
    size_t n = 0;
    for (const peer *p = s->peers; p; p = p->next) {
        if (p->state != PEER_ACTIVE)
            continue;
        if (n < max)
            peer_report(p, &out[n]);
        n++;
    }
    for (size_t i = 0; include_departed && i < s->num_history; i++, n++)
        if (n < max)
            out[n] = s->history[i];
    return n;
}

#define U(x) ((unsigned long long)(x))

void bl_swarm_status_json(const bl_swarm *s, bl_buf *b)
{
    bl_swarm_stats st;
    bl_swarm_get_stats(s, &st);
    bl_buf_printf(b,
                  "\"pieces_had\":%u,\"pieces_total\":%u,\"pieces_wanted\":%u,"
                  "\"bytes_downloaded\":%llu,\"bytes_uploaded\":%llu,\"bytes_from_seeders\":%llu,"
                  "\"bytes_from_peers\":%llu,\"bytes_wasted\":%llu,\"hash_failures\":%u,"
                  "\"rate_down\":%llu,\"rate_up\":%llu,\"pieces_changed_on_disk\":%llu,"
                  "\"listen\":",
                  st.pieces_had, st.pieces_total, st.pieces_wanted, U(st.bytes_downloaded),
                  U(st.bytes_uploaded), U(st.bytes_from_seeders),
                  U(st.bytes_downloaded - st.bytes_from_seeders), U(st.bytes_wasted),
                  st.hash_failures, U(st.rate_down), U(st.rate_up),
                  U(bl_store_pieces_lost(s->store)));
    bl_json_cstr(b, s->listen_name);
    bl_swarm_peer_stats ps[256];
    size_t np = bl_swarm_list_peers(s, ps, 256, false);
    if (np > 256)
        np = 256;
    bl_buf_printf(b, ",\"num_peers\":%u,\"peers_seeding\":%u,\"peers\":[", st.peers,
                  st.peers_seeding);
    for (size_t i = 0; i < np; i++) {
        bl_buf_puts(b, i ? ",{\"addr\":" : "{\"addr\":");
        bl_json_cstr(b, ps[i].addr);
        bl_buf_puts(b, ",\"client\":");
        bl_json_cstr(b, ps[i].client);
        bl_buf_printf(b, ",\"seeder\":%s,\"cooperative\":%s,\"downloaded\":%llu,\"uploaded\":%llu}",
                      ps[i].seeder ? "true" : "false", ps[i].coop ? "true" : "false",
                      U(ps[i].downloaded), U(ps[i].uploaded));
    }
    bl_buf_putc(b, ']');
}

void bl_swarm_stop(bl_swarm *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    swarm_tracker_stopped(s);
}

bool bl_swarm_stopped(const bl_swarm *s) { return s->tracker_stopped; }

void bl_swarm_leave(bl_swarm *s, uint64_t max_ms)
{
    bl_swarm_stop(s);
    bl_loop_refresh_now(s->loop);
    for (uint64_t until = bl_loop_now_ms(s->loop) + max_ms;
         !bl_swarm_stopped(s) && bl_loop_now_ms(s->loop) < until;)
        bl_loop_run_once(s->loop, 100);
}

void bl_swarm_free(bl_swarm *s)
{
    if (!s)
        return;
    if (s->tc)
        swarm_tracker_free(s);
    while (s->peers)
        peer_close(s->peers, "shutting down");
    while (s->graveyard) {
        peer *p = s->graveyard;
        s->graveyard = p->next;
        peer_free(p);
    }
    if (s->reap_timer)
        bl_loop_timer_cancel(s->loop, s->reap_timer);
    if (s->flush_timer)
        bl_loop_timer_cancel(s->loop, s->flush_timer);
    if (s->refill_timer)
        bl_loop_timer_cancel(s->loop, s->refill_timer);
    if (s->refill_now_timer)
        bl_loop_timer_cancel(s->loop, s->refill_now_timer);
    if (s->changed_timer)
        bl_loop_timer_cancel(s->loop, s->changed_timer);
    if (s->dial_timer)
        bl_loop_timer_cancel(s->loop, s->dial_timer);
    if (s->pex_timer)
        bl_loop_timer_cancel(s->loop, s->pex_timer);
    if (s->tick_timer)
        bl_loop_timer_cancel(s->loop, s->tick_timer);
    if (s->listen_fd >= 0) {
        bl_loop_del(s->loop, s->listen_fd);
        close(s->listen_fd);
    }
    if (s->hash_timer)
        bl_loop_timer_cancel(s->loop, s->hash_timer);
    bl_sha1_batch_free(s->hasher); /* before the store: it points into the store's buffers */
    if (s->picker)
        bl_picker_free(s->picker);
    if (s->store)
        bl_store_close(s->store);
    free(s->cands);
    free(s->contrib);
    free(s->solo_mask);
    free(s->history);
    bl_bitfield_free(&s->intent_sent);
    free(s->sent_ms);
    free(s->sent_to);
    free(s);
}
