/* swarm: one description file's swarm on one node — the engine every front
 * end drives (seed, fetch, mount).
 *
 * A swarm owns the node's piece store, the picker, the peer connections, the
 * listening socket and the tracker client, all on the caller's event loop
 * (one thread).  Front ends say what they want (piece ranges and a priority
 * class, deadlines for blocked reads) and learn when pieces are verified;
 * they never see a socket.  Only verified bytes are ever readable
 * (bl_swarm_store + bl_store_read_file).
 *
 * Between bitlib peers the policy is cooperative (negotiated in the BEP 10
 * handshake): nobody is choked, requests are served in arrival order,
 * endgame asks at most one extra peer.  Stock clients get stock
 * tit-for-tat choking (choker.h). */
#ifndef BL_SWARM_SWARM_H
#define BL_SWARM_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/evloop.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"
#include "swarm/store.h"

enum bl_policy {
    BL_POLICY_COOPERATIVE = 0, /* default between bitlib peers */
    BL_POLICY_STOCK,           /* behave like a stock client towards everyone */
};

typedef struct bl_swarm bl_swarm;

/* Connections accepted from one host (by address, any port) at a time; more
 * are closed at once, with a log line (the first, then every power of two).
 * One node runs one daemon per description, and each pair of nodes needs
 * one connection (two for a moment while a duplicate is settled): 8 leaves
 * room, yet a host opening hundreds cannot take the max_peers slots from
 * everyone else.  Loopback is exempt: those are processes of this machine,
 * as in single-machine tests and benchmarks. */
#define BL_SWARM_PER_HOST_MAX 8

typedef struct bl_swarm_config {
    const bl_metainfo *mi;     /* must outlive the swarm */
    const char *dir;           /* data directory (the set's root) */
    bool seed;                 /* serve an existing copy read-only */
    const char *listen;        /* "ADDR:PORT" to accept peers on, NULL: none */
    bool use_trackers;         /* announce to the description's trackers */
    enum bl_policy policy;
    unsigned max_peers;        /* 0: 80 */
    unsigned upload_slots;     /* stock choking slots, 0: 4 */
    uint32_t first_announce_s; /* first re-announce after this, 0: 5 s */
    int hash_threads;          /* startup check, 0: one per CPU */
    /* A private swarm (swarm/secret.h): peers prove they hold this secret
     * before anything but handshakes flows; peers without the extension
     * protocol or bitlib's proof (stock clients) are refused unless
     * allow_stock.  NULL: an open swarm.  Must outlive the swarm. */
    const struct bl_secret *secret;
    bool allow_stock;
    /* Called on the loop thread. */
    void (*on_piece)(void *arg, uint32_t piece);  /* a piece was verified */
    void (*on_complete)(void *arg);              /* every wanted piece is had */
    /* Verified pieces cannot be written to dir (err_no: ENOSPC, EDQUOT,
     * EIO...): downloads pause until writes can work again, then this is
     * called with 0.  May be NULL. */
    void (*on_store_failing)(void *arg, int err_no);
    void *arg;
} bl_swarm_config;

/* Per-peer figures for reports. */
typedef struct bl_swarm_peer_stats {
    char addr[80];
    char client[65];
    bool seeder, coop, outgoing;
    bool interested;                /* we are interested in it */
    bool choked;                    /* it chokes us */
    uint64_t downloaded, uploaded;
} bl_swarm_peer_stats;

typedef struct bl_swarm_stats {
    uint32_t pieces_had, pieces_total, pieces_wanted;
    uint64_t bytes_downloaded;      /* verified payload bytes received */
    uint64_t bytes_from_seeders;    /* ... of which from real seeders (bitlib seed, complete
                                     * stock clients), not nodes that finished */
    uint64_t bytes_uploaded;
    uint64_t bytes_wasted;          /* duplicates and hash failures */
    uint32_t hash_failures;
    uint32_t dials;                 /* outgoing connections attempted */
    unsigned peers, peers_seeding;  /* peers_seeding: real seeders, as above */
    uint64_t rate_down, rate_up;    /* bytes/s over the last few seconds */
    uint64_t write_errors;          /* verified pieces the store could not write */
    int store_errno;                /* non-zero while downloads pause for it */
} bl_swarm_stats;

/* Open the store and check what is already on disk (hashing on all cores).
 * A seed refuses data that does not match the description completely. */
bl_swarm *bl_swarm_new(bl_loop *loop, const bl_swarm_config *cfg, bl_err *err);
/* Listen, announce, start dialling.  0 or -1. */
int bl_swarm_start(bl_swarm *s, bl_err *err);
/* A peer to dial (static --peer, or discovered). */
int bl_swarm_add_peer(bl_swarm *s, const struct sockaddr *sa, socklen_t len);
/* Want pieces [first, last] in class cls (upgrades only). */
void bl_swarm_want(bl_swarm *s, uint32_t first, uint32_t last, enum bl_prio cls);
void bl_swarm_want_all(bl_swarm *s, enum bl_prio cls);
/* A blocked read needs piece by deadline_ms (loop clock): first in line. */
void bl_swarm_deadline(bl_swarm *s, uint32_t piece, uint64_t deadline_ms);
bool bl_swarm_complete(const bl_swarm *s);   /* every wanted piece had */
bl_store *bl_swarm_store(bl_swarm *s);
void bl_swarm_get_stats(const bl_swarm *s, bl_swarm_stats *st);
/* Why a piece does not come, for the one log line a failed read gets:
 * "no peer is connected", "none of the N connected peers has it" or "N of
 * the M connected peers have it (or said they are fetching it)". */
void bl_swarm_piece_sources(const bl_swarm *s, uint32_t piece, char *out, size_t outlen);
/* Pieces not had yet, per priority class (what is queued), for reports. */
void bl_swarm_queue(const bl_swarm *s, uint32_t in_class[BL_PRIO_COUNT]);
/* Fill up to max entries with the connected peers (and, if asked, those
 * that left after exchanging data); returns how many there are. */
size_t bl_swarm_list_peers(const bl_swarm *s, bl_swarm_peer_stats *out, size_t max,
                           bool include_departed);
/* Append the swarm's part of a status object: "pieces_had", "pieces_total",
 * "pieces_wanted", "bytes_downloaded", "bytes_uploaded",
 * "bytes_from_seeders", "bytes_from_peers", "bytes_wasted",
 * "hash_failures", "rate_down", "rate_up", "pieces_changed_on_disk" (a
 * seeder: pieces whose file changed under it and no longer match), "listen",
 * "num_peers",
 * "peers_seeding", "peers" (connected: addr, client, seeder, cooperative,
 * downloaded, uploaded) -- comma-separated members, no braces. */
void bl_swarm_status_json(const bl_swarm *s, bl_buf *b);
/* The address actually listened on (port chosen by the kernel for :0). */
const char *bl_swarm_listen_addr(const bl_swarm *s);
/* Pieces that cannot be written are a local problem: they are counted
 * (write_errors, also in bytes_wasted), never blamed on the peers that sent
 * them, and not asked for again while writes fail.  Downloads resume on
 * their own once the store's file system has room for a few pieces again
 * (ENOSPC), or after a back-off of 5 s doubling up to 60 s (other errors). */

/* Announce departure to the trackers; connections close in bl_swarm_free.
 * bl_swarm_stopped() turns true once the trackers were told (or could not
 * be): run the loop until then, bounded, before freeing. */
void bl_swarm_stop(bl_swarm *s);
bool bl_swarm_stopped(const bl_swarm *s);
/* Stop and run the swarm's loop until the trackers were told, at most
 * max_ms: what every front end does on its way out, so that trackers do not
 * keep handing out a node that is gone. */
void bl_swarm_leave(bl_swarm *s, uint64_t max_ms);
void bl_swarm_free(bl_swarm *s);

#endif
