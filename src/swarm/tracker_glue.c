/* tracker_glue: the swarm's side of the tracker client (tracker_glue.h). */
#include "swarm/tracker_glue.h"

#include <netinet/in.h>
#include <string.h>

#include "core/log.h"
#include "swarm/swarm_int.h"
#include "swarm/secret.h"
#include "swarm/tracker_client.h"

static void on_peers(void *arg, const struct sockaddr_storage *peers, size_t n)
{
    bl_swarm *s = arg;
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        socklen_t len = peers[i].ss_family == AF_INET    ? sizeof(struct sockaddr_in)
                        : peers[i].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : 0;
        if (len && bl_swarm_add_peer(s, (const struct sockaddr *)&peers[i], len) == 0)
            added++;
    }
    bl_debug("tracker: %zu peers", added);
}

static void on_stopped(void *arg)
{
    bl_swarm *s = arg;
    s->tracker_stopped = true;
}

static uint64_t bytes_left(const bl_swarm *s)
{
    uint32_t missing = s->mi->num_pieces - bl_store_num_had(s->store);
    uint64_t left = (uint64_t)missing * s->mi->piece_length;
    return left > s->mi->total_length ? s->mi->total_length : left;
}

int swarm_tracker_start(bl_swarm *s, bl_err *err)
{
    bl_tc_config c;
    memset(&c, 0, sizeof c);
    memcpy(c.info_hash, s->mi->info_hash, 20);
    memcpy(c.peer_id, s->peer_id, 20);
    /* trackers refuse port 0; a node that does not listen still downloads */
    c.port = s->listen_port ? s->listen_port : 6881;
    c.tiers = s->mi->tiers;
    c.num_tiers = s->mi->num_tiers;
    c.numwant = 200;
    c.first_interval_s = s->cfg.first_announce_s;
    if (s->cfg.secret) {
        bl_secret_passkey(s->cfg.secret, s->mi->info_hash, s->passkey);
        c.passkey = s->passkey;
    }
    c.on_peers = on_peers;
    c.on_stopped = on_stopped;
    c.arg = s;
    s->tc = bl_tc_new(s->loop, &c, err);
    if (!s->tc)
        return bl_fail_ctx(err, "tracker");
    swarm_tracker_stats(s);
    return 0;
}

void swarm_tracker_stats(bl_swarm *s)
{
    if (s->tc)
        bl_tc_set_stats(s->tc, s->st.bytes_uploaded, s->st.bytes_downloaded, bytes_left(s));
}

void swarm_tracker_completed(bl_swarm *s)
{
    if (!s->tc)
        return;
    swarm_tracker_stats(s);
    bl_tc_event(s->tc, BL_TC_COMPLETED);
}

void swarm_tracker_stopped(bl_swarm *s)
{
    if (!s->tc) {
        s->tracker_stopped = true;
        return;
    }
    swarm_tracker_stats(s);
    bl_tc_event(s->tc, BL_TC_STOPPED);
}

void swarm_tracker_free(bl_swarm *s)
{
    if (s->tc)
        bl_tc_free(s->tc);
    s->tc = NULL;
}
