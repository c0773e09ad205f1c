#include "swarm/tracker_glue.h"

#include "core/log.h"
#include "swarm/swarm_int.h"

/* Interim until the tracker client is merged: peers come from --peer. */
int swarm_tracker_start(struct bl_swarm *s, bl_err *err)
{
    (void)err;
    (void)s;
    bl_warn("trackers are not spoken by this build yet; give peers with --peer");
    return 0;
}

void swarm_tracker_stats(struct bl_swarm *s) { (void)s; }
void swarm_tracker_completed(struct bl_swarm *s) { (void)s; }
void swarm_tracker_stopped(struct bl_swarm *s) { (void)s; }
void swarm_tracker_free(struct bl_swarm *s) { (void)s; }
