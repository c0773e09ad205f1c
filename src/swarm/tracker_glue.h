/* tracker_glue: the swarm's side of the tracker client — announces with
 * the swarm's figures, feeds returned peers to the dialler.  Kept apart so
 * swarm.c does not depend on how trackers are spoken to. */
#ifndef BL_SWARM_TRACKER_GLUE_H
#define BL_SWARM_TRACKER_GLUE_H

#include "core/err.h"

struct bl_swarm;
/* Start announcing to the description's trackers (sets s->tc). 0 or -1. */
int swarm_tracker_start(struct bl_swarm *s, bl_err *err);
void swarm_tracker_stats(struct bl_swarm *s);      /* refresh uploaded/downloaded/left */
void swarm_tracker_completed(struct bl_swarm *s);
void swarm_tracker_stopped(struct bl_swarm *s);
void swarm_tracker_free(struct bl_swarm *s);

#endif
