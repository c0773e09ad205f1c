/* server: the tracker daemon's sockets, on the process's one event loop.
 *
 * HTTP announce and scrape (BEP 3, 23) are served by libmicrohttpd in
 * external-epoll mode: MHD's epoll fd sits in our bl_loop, MHD_run() is
 * called when it is readable and when MHD's timeout expires; no MHD
 * threads.  UDP (BEP 15) listens on the same port number.  UDP connection
 * ids are a keyed hash of the client address and the current minute, so
 * the tracker keeps no per-client state; an id is honoured for 1-2 minutes.
 * All tracker state lives in a peer_table driven with the loop's clock.
 * Logging: one line at start, at stop and per refused request (rate
 * limited), as text or JSON lines. */
#ifndef BL_TRACKER_SERVER_H
#define BL_TRACKER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "tracker/peer_table.h"

typedef struct bl_trk_server_config {
    const char *listen;            /* "ADDR:PORT"; port 0: kernel picks one for both */
    uint32_t interval_s;           /* default 1800 */
    uint32_t min_interval_s;       /* default interval / 2 */
    bl_trk_limits limits;          /* zeros: defaults; peer_ttl_s: bl_trk_default_peer_ttl */
    const char *whitelist_path;    /* NULL: serve any info-hash */
    /* A private tracker: announces must carry the passkey this secret gives
     * their info-hash (swarm/secret.h), else they are refused.  NULL: open. */
    const struct bl_secret *secret;
    bool json_log;
    bool verbose;                  /* one log line per announce */
    unsigned max_http_connections; /* default 1024 */
} bl_trk_server_config;

/* How long a peer that stopped announcing is kept when no peer_ttl_s is
 * configured: two intervals, but never less than BL_TRK_MIN_PEER_TTL_S --
 * some clients re-announce no sooner than every 600 s (libtorrent's
 * min_announce_interval floors at 300 s) whatever interval they are told, and
 * vanished from trackers with short intervals between two announces. */
#define BL_TRK_MIN_PEER_TTL_S 900u
uint32_t bl_trk_default_peer_ttl(uint32_t interval_s);

typedef struct bl_trk_server_stats {
    uint64_t http_announces, http_scrapes, udp_connects, udp_announces, udp_scrapes;
    uint64_t refused;              /* requests answered with a failure/error */
} bl_trk_server_stats;

typedef struct bl_trk_server bl_trk_server;

bl_trk_server *bl_trk_server_new(bl_loop *loop, const bl_trk_server_config *cfg, bl_err *err);
/* Logs the stop line, closes every socket. */
void bl_trk_server_free(bl_trk_server *s);
/* The port actually bound (TCP and UDP). */
uint16_t bl_trk_server_port(const bl_trk_server *s);
const bl_trk_server_stats *bl_trk_server_get_stats(const bl_trk_server *s);
const bl_trk_table *bl_trk_server_table(const bl_trk_server *s);
/* Re-read the whitelist file (e.g. on SIGHUP); on error the old list stays. */
int bl_trk_server_reload_whitelist(bl_trk_server *s, bl_err *err);

/* Read a whitelist file into t (one 40-hex-digit info-hash per line; blank
 * lines and lines starting with '#' are skipped); *count gets the number of
 * hashes.  Any other line is an error naming its line number. */
int bl_trk_whitelist_load(bl_trk_table *t, const char *path, size_t *count, bl_err *err);

#endif
