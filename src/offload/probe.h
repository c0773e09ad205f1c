/* probe: how a depot looks from here, now — whether it is up (and why not),
 * the bytes it has free, and the rate of one bandwidth probe of
 * BL_PROBE_BYTES — the measurement push makes of every depot before it plans
 * (and then replaces with the rate of its own transfers), and what `bitlib
 * offload plan --probe` plans with.  No monitoring service: the probe is a
 * PROBE message the depot reads and throws away, timed from send to its
 * PROBE_OK.  A 256 KiB probe is mostly round trips and TCP slow start on a
 * fast path, so it underestimates fast depots: a first guess, no more. */
#ifndef BL_OFFLOAD_PROBE_H
#define BL_OFFLOAD_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "offload/dpconn.h"
#include "offload/okey.h"

#define BL_PROBE_BYTES (256u << 10)

/* On a READY connection: ask for the depot's STATUS and send the probe.  The
 * caller times from here to the PROBE_OK and awaits both answers. */
void bl_probe_send(bl_dpconn *c);
/* Bytes/s of a probe answered ms milliseconds after bl_probe_send. */
double bl_probe_rate(uint64_t ms);

typedef struct bl_probe_result {
    bool up;                /* it answered both */
    uint64_t free_bytes;    /* what its STATUS said it has free */
    double rate;            /* bytes/s of the probe */
    char why[200];          /* when not up: one line (refused, wrong key, timed out...) */
} bl_probe_result;

/* Probe names[0..n) ("host:port") at once, authenticating with the offload
 * key (a depot only answers a sender holding it), each given timeout_ms.
 * Fills res[0..n); -1 with err only when nothing could be tried (out of
 * memory, no event loop); a depot that is down is a result, not an error. */
int bl_probe_depots(const char *const *names, size_t n, const bl_okey *key, unsigned timeout_ms,
                    bl_probe_result *res, bl_err *err);

#endif
