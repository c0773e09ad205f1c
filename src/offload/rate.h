/* rate: the rate push plans with for one depot — what it has seen of the
 * depot's own transfers, else the probe's.
 *
 * The owner counts the bytes the depot acknowledged (bl_rate_acked) and the
 * milliseconds it had something in flight (busy_ms: time with nothing in
 * flight is not the depot's slowness), and calls bl_rate_tick once per
 * planning tick.  bl_rate_get then says, in bytes/s:
 *   - the probe's rate until BL_RATE_OWN_CHUNKS chunks are acknowledged (a
 *     few chunks are needed before the depot's own rate means anything);
 *   - then the rate since the oldest of the last BL_RATE_TICKS ticks (2 s with
 *     push's 1 s ticks) when the depot was busy at least BL_RATE_MIN_BUSY_MS
 *     in that time, so that a depot that slows down or
 *     speeds up mid-way is seen as it is now, not as the run's average; a
 *     busy window with nothing acknowledged counts as half a chunk (less than
 *     one went through, and zero would make the depot look dead);
 *   - else the rate over the whole run.
 * Pure: no clock, no I/O. */
#ifndef BL_OFFLOAD_RATE_H
#define BL_OFFLOAD_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define BL_RATE_OWN_CHUNKS 4
#define BL_RATE_TICKS 3
#define BL_RATE_MIN_BUSY_MS 500

typedef struct bl_rate {
    double probe;                      /* bytes/s of the probe; 0: none yet */
    uint64_t bytes, busy_ms;           /* acknowledged so far, busy so far */
    uint64_t win_bytes[BL_RATE_TICKS], win_busy[BL_RATE_TICKS];   /* at the last ticks */
    unsigned ticks;
} bl_rate;

/* chunk bytes acknowledged; true when this makes the depot's own rate usable
 * for the first time (the moment to plan again) */
bool bl_rate_acked(bl_rate *r, uint64_t bytes, uint64_t chunk);
void bl_rate_tick(bl_rate *r);
double bl_rate_get(const bl_rate *r, uint64_t chunk);

#endif
