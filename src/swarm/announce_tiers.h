/* announce_tiers: which tracker to try next (BEP 12 announce-list).
 *
 * Trackers are grouped in tiers.  Each tier is shuffled once at creation.
 * One announce walks the tiers from the first tracker of the first tier:
 * a failure moves to the next tracker in the tier, then to the next tier;
 * a success moves the responding tracker to the front of its tier, so the
 * next announce starts with it.  No clocks or sockets: the tracker client
 * drives it, and tests drive it directly.  Each entry carries a user
 * pointer for per-tracker transport state. */
#ifndef BL_SWARM_ANNOUNCE_TIERS_H
#define BL_SWARM_ANNOUNCE_TIERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct bl_tier_entry {
    char *url;
    void *user;
} bl_tier_entry;

typedef struct bl_tiers bl_tiers;

/* tiers[i] is a NULL-terminated array of URLs (the metainfo's layout);
 * empty tiers are dropped; no URL at all is an error.  seed drives the
 * shuffle (pass a random value; tests pass constants). */
bl_tiers *bl_tiers_new(char ***tiers, size_t num_tiers, uint64_t seed, bl_err *err);
void bl_tiers_free(bl_tiers *t);

size_t bl_tiers_num_tiers(const bl_tiers *t);
size_t bl_tiers_tier_len(const bl_tiers *t, size_t tier);
bl_tier_entry *bl_tiers_at(bl_tiers *t, size_t tier, size_t idx);

/* Start a walk at the first tracker of the first tier. */
void bl_tiers_rewind(bl_tiers *t);
/* The tracker to try now, or NULL when the walk has tried every tracker. */
bl_tier_entry *bl_tiers_current(bl_tiers *t);
/* The current tracker failed: advance (next in tier, else next tier). */
void bl_tiers_failed(bl_tiers *t);
/* The current tracker answered: move it to the front of its tier. */
void bl_tiers_succeeded(bl_tiers *t);

#endif
