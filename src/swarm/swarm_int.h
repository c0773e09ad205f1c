/* swarm_int: what swarm.c (the session) and peer.c (one connection) share.
 * Not a public interface: front ends use swarm.h. */
#ifndef BL_SWARM_SWARM_INT_H
#define BL_SWARM_SWARM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/evloop.h"
#include "core/net.h"
#include "core/sha1batch.h"
#include "swarm/bitfield.h"
#include "swarm/choker.h"
#include "swarm/picker.h"
#include "swarm/store.h"
#include "swarm/swarm.h"
#include "swarm/wire.h"

#define PEER_READ_CHUNK (64u * 1024)
#define PEER_OUT_HIGH (512u * 1024)      /* stop serving requests above this */
#define PEER_SERVE_QUEUE_MAX 2048        /* requests a peer may have queued at us */
#define PEER_REQQ_ADVERTISED 1024        /* reqq we tell peers */
#define PEER_PIPELINE_MIN 8
#define PEER_PIPELINE_MAX 512
#define PEER_PIPELINE_START 16
#define PEER_SEED_PIPELINE 32         /* cooperative requests queued at one seed */
#define PEER_HANDSHAKE_TIMEOUT_MS 20000
#define PEER_CONNECT_TIMEOUT_MS 10000
#define PEER_IDLE_TIMEOUT_MS 180000      /* nothing received at all */
#define PEER_REQUEST_TIMEOUT_MS 20000    /* requests out, no block arrives */
#define PEER_KEEPALIVE_MS 60000
#define PEER_PEX_INTERVAL_MS 60000      /* stock peers: BEP 11 asks for at most one a minute */
#define PEER_PEX_COOP_MS 200            /* cooperative peers: as soon as something changed */
#define PEER_MAX_STRIKES 2               /* hash failures before a ban */
#define PEER_DRY_RECHECK_MS 250        /* a dry peer is asked again after this anyway */
#define PEER_PROMISE_MS 3000             /* an intent not followed by HAVE expires */
#define PEER_PROMISES_MAX 8192
#define HASH_BATCH_WAIT_MS 20         /* longest a complete piece waits for lane-mates */
#define SEED_SPREAD_MS 250               /* a node sends a piece to one coop peer per window */
#define PEER_STOCK_LINGER_MS 120000      /* interest kept in stock peers after the last want */
#define PEER_DUP_GRACE_MS 3000           /* a stock peer may settle a duplicate itself first */
/* Bounds on what a hostile peer can make us do (t_swarm_hostile_matrix):
 * a message begun must be complete within PEER_MSG_TIMEOUT_MS (a peer that
 * sends half a message and then nothing would hold its slot, and its
 * buffer, until the 180 s idle timeout; 16 KiB in 20 s is 6.5 kbit/s) */
#define PEER_MSG_TIMEOUT_MS 20000
/* unsent output above this: the peer does not read what we send (control
 * messages such as rejects are not bounded by PEER_OUT_HIGH) */
#define PEER_OUT_MAX (4u << 20)
/* requests while we choke it, since the last choke: an honest peer's
 * in-flight requests are at most the reqq we advertised */
#define PEER_CHOKED_REQUESTS_MAX PEER_REQQ_ADVERTISED
/* cancels per PEER_CANCEL_WINDOW_MS: request/cancel churn */
#define PEER_CANCELS_MAX (2u * PEER_REQQ_ADVERTISED)
#define PEER_CANCEL_WINDOW_MS 10000
/* A peer that claims pieces but sends none: rejects for PEER_REJECT_DRY_MS
 * with at least PEER_REJECTS_MAX rejects and no block in between, or no
 * first block PEER_FIRST_BLOCK_TIMEOUT_MS after our first request. */
#define PEER_REJECTS_MAX 256
#define PEER_REJECT_DRY_MS 5000
#define PEER_FIRST_BLOCK_TIMEOUT_MS 5000
/* No first block PEER_FIRST_BLOCK_GRACE_MS after our first request while
 * unchoked: its pieces stop counting as available (so seeds are no longer
 * spared for them) and its requests go to others, until a block from it
 * arrives.  Measured on t_swarm_hostile_matrix: a peer announcing every
 * piece by HAVE and serving none held an honest fetch at 0.61 of its rate
 * for the 5 s before it was closed, because the seeder was spared for
 * everything it claimed. */
#define PEER_FIRST_BLOCK_GRACE_MS 1000
/* A piece a cooperative peer rejected is not asked of it again for this
 * long, SEED_SPREAD_MS, the rejecter's own window (bench/ondemand N=8,
 * shuffled, file mode: a node asked the same peer for the same three pieces
 * 30 times in 70 ms, each request rejected, while the piece travelled on). */
#define PEER_REJECT_AVOID_MS SEED_SPREAD_MS
#define PEER_REJECT_MARKS 256             /* pieces remembered per peer, oldest forgotten */
#define PEER_WITHDRAWALS_MAX 3        /* then it is closed as useless */

enum peer_state { PEER_CONNECTING, PEER_HANDSHAKE, PEER_ACTIVE, PEER_DEAD };

typedef struct peer peer;

struct out_span {
    size_t at;                    /* position in out this span follows */
    uint32_t file;                /* store file index */
    uint32_t len;
    uint64_t off;                 /* in the file */
};
struct peer {
    bl_swarm *sw;
    peer *next, *prev;
    uint32_t id;                  /* picker's name for this peer */
    int fd;
    enum peer_state state;
    bool outgoing;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char name[BL_NET_ADDRSTRLEN];
    uint16_t listen_port;         /* from the extension handshake, 0 unknown */

    bl_buf in, out;
    size_t in_off;                /* bytes of in already handled */
    size_t out_off;               /* bytes of out already sent */
    /* Block data goes out with sendfile, straight from the store's files:
     * span k is sent once out has been sent up to spans[k].at.  No copy
     * through user space (it was a tenth of a node's CPU). */
    struct out_span *spans;
    size_t span_head, span_count, span_cap;
    uint64_t span_bytes;          /* file bytes still to send */
    unsigned ev_mask;             /* what the loop watches for now */
    bool hs_sent, hs_received;
    uint8_t peer_id[20];
    unsigned caps;                /* BL_WIRE_CAP_* both sides support */
    bool coop;                    /* cooperative bitlib peer */
    bool got_first_msg;           /* bitfield/have_all may come only first */
    char client[BL_EXT_CLIENT_MAX + 1];
    bl_ext_handshake ext;         /* all its extension handshakes said (BEP 10 updates) */
    uint8_t ext_pex_id;           /* the id the peer wants for ut_pex, 0: none */
    uint8_t ext_intent_id;        /* ... for bitlib_intent, 0: none */
    /* private swarms: the peer stays in PEER_HANDSHAKE (hs_received) until
     * its proof of the secret checks out; only extension messages flow */
    uint8_t my_nonce[BL_EXT_NONCE_LEN], their_nonce[BL_EXT_NONCE_LEN];
    bool their_nonce_known, proof_sent;
    bool stock_admitted;          /* a stock client let in by allow_stock */

    /* pieces it told us it is fetching from a seed (bitlib_intent), counted
     * by the picker as if it had them until HAVE comes or they expire */
    bl_bitfield promised;
    struct promise { uint32_t piece; uint64_t ms; } *promises;
    uint32_t prom_head, prom_len;
    /* pieces it rejected while unchoking us (a cooperative node spreading
     * a piece it just sent to someone else, who will announce it in a
     * moment): not asked of it again for PEER_REJECT_AVOID_MS */
    bl_bitfield rejected;
    struct promise *rejects;
    uint32_t rej_head, rej_len;

    bool am_choking, am_interested, peer_choking, peer_interested;
    bl_bitfield have;
    bool has_all;                 /* BEP 6 HAVE ALL (have is kept full too) */
    bool upload_only;             /* BEP 21: it said it only uploads (a seeder) */
    bool duplicate;               /* closed as a second connection to a connected peer */
    bool dry;                     /* the last fill found nothing more to ask it for */
    uint64_t dry_supply, dry_ms;  /* picker supply and time of that fill */
    bool picker_registered;       /* availability counted in the picker */
    bool withdrawn;               /* unproven: not counted, not asked (PEER_FIRST_BLOCK_GRACE_MS) */
    uint32_t wanted_count;        /* pieces it has that we want and lack */
    uint32_t lacking_count;       /* pieces it has that we lack, wanted or not */
    uint64_t endpoint_ms;         /* when its listen address became known, 0: not yet */
    bool endpoint_checked;        /* checked once for another connection to that address */
    bool useless;                 /* closed for serving nothing: dial it again only after a back-off */
    uint32_t strikes;
    uint32_t suspicion;           /* shared hash failures it contributed to */
    uint32_t solo_turns;          /* failed pieces given to it alone to re-fetch */

    uint32_t outstanding;         /* our requests in flight at this peer */
    uint64_t requests_sent;       /* every request we sent it, on this connection */
    uint64_t blocks_received;     /* every block it sent, wanted or not */
    uint64_t first_request_ms;    /* when our first request went out, 0: none yet */
    uint64_t last_good_block_ms;  /* last block the picker took from it, 0: none yet */
    uint32_t rejects_since_block; /* rejects since its last block */
    uint32_t withdrawals;         /* times withdrawn on this connection */
    uint32_t choked_requests;     /* its requests while we choke it, since the last choke */
    uint32_t cancels;             /* its cancels in this window */
    uint64_t cancel_win_ms;       /* start of that window */
    uint64_t partial_ms;          /* since when a message is begun and incomplete, 0: none */
    uint32_t pipeline;            /* how many we allow in flight */
    uint32_t reqq;                /* the peer's limit, 0 unsaid */

    bl_block *serve_q;            /* its requests, served in arrival order */
    uint32_t serve_head, serve_len, serve_cap;

    uint64_t downloaded, uploaded;
    uint64_t win_down, win_up;    /* bytes in the current rate window */
    uint64_t rate_down, rate_up;  /* bytes/s, last window */
    uint64_t round_up_base;       /* `uploaded` at the last choke round */
    uint64_t last_recv_ms, last_send_ms, last_block_ms, connected_ms, last_pex_ms;
    uint32_t pex_generation;      /* swarm->peer_generation when we last sent PEX */
    uint64_t timer;               /* connect/handshake timeout timer */
};

/* A known address we may dial. */
typedef struct candidate {
    struct sockaddr_storage addr;
    socklen_t len;
    uint64_t next_try_ms;
    uint32_t failures;
    bool connected;
    bool banned;
} candidate;

struct bl_swarm {
    bl_loop *loop;
    bl_swarm_config cfg;
    const bl_metainfo *mi;
    bl_store *store;
    bl_picker *picker;
    bl_choker choker;
    bl_wire_geometry geo;
    uint8_t peer_id[20];
    char passkey[65];             /* a private swarm's tracker passkey, "" otherwise */
    uint32_t auth_refusals;       /* peers that refused our proof of the secret */
    uint32_t host_refusals;       /* connections refused by BL_SWARM_PER_HOST_MAX */

    int listen_fd;
    char listen_name[BL_NET_ADDRSTRLEN];
    uint16_t listen_port;

    peer *peers;                  /* doubly linked, active and connecting */
    unsigned num_peers;
    peer *graveyard;              /* closed, freed on the next loop turn */
    uint64_t reap_timer;
    uint64_t flush_timer;         /* deferred flush of HAVEs and intents */
    uint64_t dial_timer;          /* new candidates: dial them without waiting for a tick */
    uint64_t pex_timer;           /* a peer joined: tell cooperative peers soon */
    uint64_t refill_timer;        /* ask again shortly after a reject */
    uint64_t refill_now_timer;    /* ... at once, after a cooperative peer's reject */
    uint64_t changed_timer;       /* close every peer: the served copy changed */
    bl_sha1_batch *hasher;        /* complete pieces wait here to be hashed together */
    uint64_t hash_timer;          /* hash the waiting pieces even if the lanes are not full */
    uint32_t next_peer_id;
    uint32_t peer_generation;     /* bumped when a peer with a listen port joins */
    bl_bitfield intent_sent;      /* pieces we announced with bitlib_intent */
    /* cooperative: when and to whom each piece last went (spreading) */
    uint64_t *sent_ms;
    uint32_t *sent_to;

    candidate *cands;
    size_t num_cands, cap_cands;

    /* contributors to pieces being assembled: piece -> up to 4 peer ids */
    struct contrib { uint32_t piece; uint32_t ids[4]; uint8_t n; } *contrib;
    size_t num_contrib, cap_contrib;
    /* ids of peers recently dropped for bad data (a ring): their blocks
     * left in pieces still being assembled explain those pieces' failures */
    uint32_t convicted[32];
    uint32_t num_convicted;
    /* pieces that failed with blocks from several peers: fetched again from
     * one of them alone (the most suspect), so the next failure names the
     * liar; solo_mask is scratch for masking the others' bitfields */
    struct solo { uint32_t piece, peer_id; } solo[64];
    uint32_t num_solo;
    uint8_t *solo_mask;

    uint64_t tick_timer;
    uint64_t last_rechoke_ms, last_rate_ms;
    uint64_t last_want_ms;        /* a piece was last wanted or arrived wanted (peer.c) */
    bool completed_fired;
    bool stopping;
    /* writes to the store fail (disk full): no requests until they can work */
    bool store_failing;
    uint32_t store_episodes;      /* failures since the last piece written */
    uint64_t store_retry_ms;      /* loop time from which to try again */

    struct bl_tracker_client *tc; /* NULL without trackers */
    bool tracker_stopped;         /* the stopped announce is done (or not needed) */

    bl_swarm_stats st;
    /* peers that have left, for reports */
    bl_swarm_peer_stats *history;
    size_t num_history, cap_history;
};

/* peer.c */
peer *peer_new(bl_swarm *s, int fd, bool outgoing, const struct sockaddr *sa, socklen_t len,
               bool connecting);
void peer_close(peer *p, const char *why);
void peer_send_have(peer *p, uint32_t piece);
void peer_set_choke(peer *p, bool choke);
void peer_fill_requests(peer *p);
void peer_recount_wanted(peer *p);
void peer_tick(peer *p, uint64_t now);
/* Tell a cooperative peer about peers that joined since its last PEX, if
 * PEER_PEX_COOP_MS have passed; else return the ms left (0: done or nothing
 * to tell).  May close p. */
uint64_t peer_pex_due(peer *p, uint64_t now);
void peer_free(peer *p);
/* A real seeder (it said upload_only, or a complete non-bitlib client), not
 * a bitlib node that finished: what "from seeders" counts. */
bool peer_is_origin(const peer *p);
void peer_send_intents(peer *from_seed, const uint32_t *pieces, size_t n);
/* From now on the peer takes part: bitfields, choking, requests, PEX. */
void peer_activate(peer *p);

/* It has every piece (a seed or a finished node). */
bool peer_is_seeder(const peer *p);

/* peer_gossip.c: peer exchange and bitlib_intent between cooperative peers */
void peer_send_pex(peer *p);
void peer_got_intents(peer *p, const uint8_t *data, size_t len);
void peer_expire_promises(peer *p, uint64_t now);

/* peer.c: what we may still ask of it */
void peer_expire_rejects(peer *p, uint64_t now);

/* peer_serve.c: what we send it */
/* Write what is queued without blocking; may close p. */
void peer_flush(peer *p);
/* Serve its queued requests while the socket keeps up; may close p. */
void peer_serve(peer *p);
/* A REQUEST from it: checked, queued (or rejected), served; may close p. */
void peer_got_request(peer *p, const bl_msg *m);
/* Drop a queued request (its CANCEL); true if it was queued. */
bool peer_serve_remove(peer *p, const bl_block *b);

/* peer_auth.c: the job-secret check of a private swarm's peer */
/* A fresh nonce for our extension handshake; -1 (p closed) if none. */
int peer_auth_start(peer *p);
/* The peer's (merged) extension handshake, while it is unproven. */
void peer_auth_ext_handshake(peer *p);
/* A bitlib_auth message: its proof, or (empty) its refusal of ours. */
void peer_auth_got_proof(peer *p, const uint8_t *data, size_t len);

/* swarm.c, for peer.c */
void swarm_verify_piece(bl_swarm *s, uint32_t piece);
void swarm_piece_verified(bl_swarm *s, uint32_t piece);
void swarm_piece_failed(bl_swarm *s, uint32_t piece);
/* True while nothing should be requested (pieces cannot be stored). */
bool swarm_paused(const bl_swarm *s);
const uint8_t *swarm_request_mask(bl_swarm *s, peer *p);
void swarm_solo_peer_gone(bl_swarm *s, uint32_t peer_id);
void swarm_contrib_add(bl_swarm *s, uint32_t piece, uint32_t peer_id);
void swarm_rechoke(bl_swarm *s);       /* between rounds: fill free slots only */
void swarm_rechoke_round(bl_swarm *s); /* the periodic choke round */
void swarm_remember(bl_swarm *s, const peer *p);
/* Flush every peer's output on the next loop turn: messages queued for many
 * peers in one turn leave in one send() per peer. */
void swarm_defer_flush(bl_swarm *s);
/* A peer with a listen port joined: cooperative peers hear of it soon. */
void swarm_pex_soon(bl_swarm *s);
/* Refill every peer's requests in REFILL_AFTER_REJECT_MS. */
void swarm_refill_soon(bl_swarm *s);
/* Refill every peer's requests at the end of this loop pass (after a
 * cooperative peer's reject: the rejected piece is masked from it, so
 * asking again at once cannot loop). */
void swarm_refill_next_pass(bl_swarm *s);
#define REFILL_AFTER_REJECT_MS 50
bool swarm_wants_piece(const bl_swarm *s, uint32_t piece);
/* The store found pieces changed on disk (bl_store_generation moved): every
 * connection is closed on the next loop turn, so that peers reconnect and
 * learn what is still served (BitTorrent cannot take a HAVE back). */
void swarm_store_changed(bl_swarm *s);
/* Something was wanted just now: stock peers holding pieces we lack keep our
 * interest for PEER_STOCK_LINGER_MS more (see want_interest in peer.c). */
void swarm_wanted_now(bl_swarm *s);
peer *swarm_find_peer_id(bl_swarm *s, const uint8_t peer_id[20], const peer *except);
void swarm_pex_learned(bl_swarm *s, const struct sockaddr *sa, socklen_t len);
/* The candidate for address sa, or with create a new one: at most
 * MAX_CANDIDATES are kept, and once that many are known a new address takes
 * the place of one we are not connected to (the one that failed most; banned
 * ones are kept).  NULL when none can be had. */
candidate *swarm_candidate(bl_swarm *s, const struct sockaddr *sa, socklen_t len, bool create);

#endif
