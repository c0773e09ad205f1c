/* units: sizes and times as people write them on offload command lines.
 *   sizes: "64M", "1G", "512KiB", "4096" (binary multiples K M G T)
 *   times: "+600", "600s", "10m", "2h" (from now), "@1700000000" (epoch),
 *          "2026-12-02T17:00[:SS][Z]" or the job-script form of the paper,
 *          "1/14/2007:12:00[:SS]" (M/D/YYYY:HH:MM, UTC). */
#ifndef BL_OFFLOAD_UNITS_H
#define BL_OFFLOAD_UNITS_H

#include <stdint.h>
#include <time.h>

#include "core/err.h"

int bl_parse_bytes(const char *s, uint64_t *out, bl_err *err);
/* Absolute time in seconds since the epoch (relative forms add to now). */
int bl_parse_when(const char *s, time_t now, double *out, bl_err *err);

#endif
