/* tracker_client: announce to a torrent's trackers from the event loop.
 *
 * HTTP(S) trackers go through libcurl's multi interface driven by our
 * bl_loop (socket and timer callbacks, curl_multi_socket_action); UDP
 * trackers (BEP 15) through a connected UDP socket on the same loop.
 * Nothing blocks, except resolving a udp:// host name (getaddrinfo, once
 * per tracker; literal addresses never block).
 *
 * Which tracker: BEP 12 tiers (see announce_tiers).  One announce walks the
 * tiers until a tracker answers; if none does, the client retries with
 * exponential back-off (retry_min_s doubling up to retry_max_s).  Every
 * failed tracker costs one log line; nothing a tracker sends can crash it.
 *
 * When: bl_tc_new schedules event=started at once.  After a success the
 * next announce comes after the tracker's interval (or first_interval_s
 * the first time, when set: a cooperative swarm wants an early second
 * look), never sooner than interval_floor_s.  bl_tc_event(COMPLETED) and
 * bl_tc_announce_now announce at once; bl_tc_event(STOPPED) aborts what is
 * in flight, sends event=stopped (one try per tracker, and only if started
 * got through) and then calls on_stopped.
 *
 * UDP: connection ids are reused for 60 s; request n of an exchange waits
 * udp_timeout_ms x 2^n (BEP 15 uses 15 s; tests use less) and a tracker is
 * given up after udp_retries retransmissions.  An ICMP "port unreachable"
 * fails a UDP tracker at once.
 *
 * Callbacks run on the loop and must not free the client. */
#ifndef BL_SWARM_TRACKER_CLIENT_H
#define BL_SWARM_TRACKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/evloop.h"

enum bl_tc_event { BL_TC_COMPLETED = 1, BL_TC_STOPPED = 3 };

typedef void (*bl_tc_peers_fn)(void *arg, const struct sockaddr_storage *peers, size_t n);

typedef struct bl_tc_config {
    uint8_t info_hash[20];
    uint8_t peer_id[20];
    uint16_t port;                 /* where peers reach us */
    char ***tiers;                 /* announce-list: tiers of NULL-terminated URL arrays */
    size_t num_tiers;
    const char *announce_ip;       /* optional literal address to announce (NULL: source) */
    const char *passkey;           /* a private swarm's (swarm/secret.h), NULL: none */
    uint32_t numwant;              /* 0: 50 */
    uint32_t first_interval_s;     /* 0: the tracker's interval from the start */
    uint32_t interval_floor_s;     /* 0: 1 */
    uint32_t http_timeout_ms;      /* 0: 30000 (whole request) */
    uint32_t udp_timeout_ms;       /* 0: 15000 (BEP 15 base) */
    uint32_t udp_retries;          /* 0: 2 retransmissions (15 + 30 + 60 s) */
    uint32_t retry_min_s;          /* 0: 15; back-off after every tracker failed */
    uint32_t retry_max_s;          /* 0: 1800 */
    bl_tc_peers_fn on_peers;       /* every successful announce (n may be 0) */
    void (*on_stopped)(void *arg); /* after the stopped announce, or giving up on it */
    void *arg;
} bl_tc_config;

typedef struct bl_tc_status {
    uint64_t announces_ok, trackers_failed;
    unsigned consecutive_failures;  /* whole walks that found no tracker */
    uint32_t interval_s;            /* last interval used */
    int64_t complete, incomplete;   /* from the last reply, -1 if unknown */
    char last_tracker[256];         /* URL that last answered */
    char last_error[256];
} bl_tc_status;

typedef struct bl_tracker_client bl_tracker_client;

bl_tracker_client *bl_tc_new(bl_loop *loop, const bl_tc_config *cfg, bl_err *err);
/* Whether url is one this client can announce to: http://HOST[:PORT][/...],
 * https://..., udp://HOST:PORT[/...] (no name is resolved).  0, or -1 with
 * err saying what is wrong. */
int bl_tc_check_url(const char *url, bl_err *err);
/* Aborts whatever is in flight (no stopped event: use bl_tc_event first). */
void bl_tc_free(bl_tracker_client *tc);
/* Counters sent with the next announce. */
void bl_tc_set_stats(bl_tracker_client *tc, uint64_t uploaded, uint64_t downloaded, uint64_t left);
void bl_tc_event(bl_tracker_client *tc, enum bl_tc_event ev);
/* Announce now (e.g. the swarm needs more peers); ignored while stopping. */
void bl_tc_announce_now(bl_tracker_client *tc);
const bl_tc_status *bl_tc_get_status(const bl_tracker_client *tc);

#endif
