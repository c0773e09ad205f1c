/* plan: the offload planner — direct or staged, which depots, how many coded
 * chunks each, and when the center may release its copy.
 *
 * Pure functions of their inputs: no I/O, no clock, no allocation.  The push
 * side (bitlib offload push) measures rates, calls bl_plan_make once, then
 * bl_plan_replan whenever a rate changes, a depot fails or refuses, with what
 * has been acknowledged so far; `bitlib offload plan` prints the same plan.
 *
 * Model (the paper's §3.3, "fluid"): the data of S bytes is cut into stripes
 * of K chunks of `chunk` bytes (the last stripe padded), each stripe coded to
 * M chunks, each coded chunk stored `replicas` times on distinct depots.  A
 * depot i takes bytes at its measured rate r_i until it reaches its capacity;
 * the sum of the rates in use is capped by the center's uplink (scaled down
 * proportionally).  Direct sends S uncoded bytes at min(r_direct, uplink).
 *
 * Decision: direct if it meets the earlier of the two deadlines (it also
 * delivers); otherwise staged with the smallest fan-out (user depots by
 * decreasing rate, then landmarks) that meets it; if nothing meets it, the
 * faster of the two, reported as missing.  With no deadline: the earlier
 * release.  The fan-out is at least min(M x replicas, usable depots) so that
 * the copies of one stripe sit on distinct depots (that is what makes a lost
 * depot cost at most one chunk of a stripe); without a deadline it grows
 * until the uplink is saturated.  A depot holds at most per_depot =
 * ceil(M x replicas / fan-out) copies of one stripe, so that a fast depot
 * does not end up with a whole stripe; with one replica and too few depots
 * for that to survive a lost depot (per_depot > M-K) the cap is dropped and
 * speed wins.  When the depots' capacities leave no fan-out that fits under
 * the cap, it is raised as little as needed (storing the data beats
 * spreading it).
 *
 * Release (the center may delete its copy): direct — the destination has all
 * of S; staged — every coded chunk copy is acknowledged by a depot.  Delivery
 * ("in the user's reach"): direct — at the destination; staged — durable on
 * depots and pullable, i.e. the same instant.  Both are compared with both
 * deadlines.  Times are seconds on the caller's clock (e.g. epoch). */
#ifndef BL_OFFLOAD_PLAN_H
#define BL_OFFLOAD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define BL_PLAN_MAX_DEPOTS 64
#define BL_PLAN_MAX_K 32
#define BL_PLAN_MAX_M 64        /* K <= M <= BL_PLAN_MAX_M */
#define BL_PLAN_MAX_REPLICAS 8

typedef struct bl_plan_node {
    const char *name;       /* host:port, for messages only; not owned */
    double rate;            /* measured bytes/s from the center; <= 0: unknown */
    uint64_t capacity;      /* bytes it accepts in all; 0: unlimited */
    bool landmark;          /* a landmark: used only after every user depot */
    bool failed;            /* down or refusing: never chosen */
} bl_plan_node;

typedef struct bl_plan_input {
    uint64_t size;          /* S, bytes of result data (> 0) */
    unsigned k, m;          /* RS K:M; k == m means no coding */
    unsigned replicas;      /* copies of each coded chunk (>= 1) */
    uint64_t chunk;         /* chunk size in bytes (> 0) */
    double uplink;          /* center's outbound cap, bytes/s; <= 0: none */
    bool has_direct;        /* a destination was named (#Stageout / --direct) */
    bl_plan_node direct;    /* its rate; capacity and landmark are ignored */
    const bl_plan_node *depots;
    size_t n_depots;        /* <= BL_PLAN_MAX_DEPOTS */
    unsigned min_fanout;    /* 0: min(M x replicas, usable depots) */
    double now;
    double purge_deadline;     /* 0: none */
    double delivery_deadline;  /* 0: none */
} bl_plan_input;

enum bl_plan_mode {
    BL_PLAN_NONE,           /* nothing usable: no direct rate, no depot */
    BL_PLAN_DIRECT,
    BL_PLAN_STAGED,
};

typedef struct bl_plan_share {
    size_t depot;           /* index into bl_plan_input.depots */
    uint64_t chunks;        /* coded chunk copies it is to receive */
    double rate;            /* bytes/s assumed for it (after the uplink cap) */
    double finish;          /* when its share is projected to be done */
} bl_plan_share;

typedef struct bl_plan {
    enum bl_plan_mode mode;
    uint64_t stripes;            /* ceil(S / (K x chunk)) */
    uint64_t chunks_total;       /* stripes x M x replicas (staged) */
    uint64_t chunks_left;        /* of them, still to send */
    uint64_t bytes_left;         /* bytes still to send in the chosen mode */
    size_t n_shares;             /* the fan-out (staged) */
    bl_plan_share share[BL_PLAN_MAX_DEPOTS];  /* by decreasing rate */
    double direct_release;       /* projected finish of a direct transfer; 0: impossible */
    double staged_release;       /* projected finish of the staged offload; 0: impossible */
    double release;              /* of the chosen mode; 0 when mode is NONE */
    double delivery;             /* of the chosen mode (see above) */
    double deadline;             /* min of the deadlines set; 0: none */
    bool purge_met, delivery_met;    /* true when that deadline is unset */
    bool estimated;              /* a rate was unknown: the slowest known rate
                                  * (or 1 MB/s if none) was assumed for it */
    unsigned spread;             /* distinct depots one stripe's copies span */
    unsigned per_depot;          /* most copies of one stripe on one depot */
    char why[200];               /* one line: why this decision */
} bl_plan;

/* Plan from scratch.  -1 with err on input that cannot be planned (size 0,
 * k > m, replicas 0, too many depots or chunks); a plan that misses its
 * deadline is not an error (purge_met / delivery_met say so). */
int bl_plan_make(const bl_plan_input *in, bl_plan *out, bl_err *err);

/* What has happened since the plan started. */
typedef struct bl_plan_progress {
    enum bl_plan_mode mode;       /* the mode the transfer is in now */
    uint64_t direct_acked;        /* bytes of S the destination has */
    const uint64_t *acked;        /* per depot (n_depots entries), chunk copies
                                   * it acknowledged; NULL: none */
} bl_plan_progress;

/* Re-plan at in->now with the latest rates and failures in in->depots.
 * Chunks acknowledged by a depot now marked failed count as lost and are
 * sent again; acknowledged chunks use up their depot's capacity.  Staying in
 * the current mode keeps its progress; switching from direct to staged
 * starts the staged offload from nothing (the destination's partial copy is
 * not a depot chunk), switching from staged to direct sends all of S.  The
 * shares cover only the chunks left. */
int bl_plan_replan(const bl_plan_input *in, const bl_plan_progress *pr,
                   bl_plan *out, bl_err *err);

/* Placement, the primitive the push side uses for every chunk copy it sends
 * (and that bl_plan_place uses for a whole plan): among the plan's shares,
 * the depot with the largest remaining quota (share chunks minus `given`,
 * per depot index) that is not in `avoid` (per depot index; NULL: none).
 * Ties go to the faster depot.  Returns the depot index or -1 if none is
 * left.  Callers avoid the depots already holding a copy of the same stripe
 * first, then only those holding the same chunk. */
int bl_plan_pick(const bl_plan *p, const uint64_t *given, const bool *avoid,
                 size_t n_depots);

/* Place every copy of a fresh plan: out[(stripe * M + idx) * replicas + r]
 * = depot index, for n_out = stripes x M x replicas entries.  Copies of one
 * stripe go to distinct depots while there are enough; copies of one chunk
 * always do (-1 with err if the plan has fewer depots than replicas). */
int bl_plan_place(const bl_plan_input *in, const bl_plan *p, uint16_t *out,
                  size_t n_out, bl_err *err);

/* "direct", "staged", "none" */
const char *bl_plan_mode_name(enum bl_plan_mode m);

#endif
