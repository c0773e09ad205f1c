/* rate: the rate push plans with for one depot (see rate.h). */
#include "offload/rate.h"

bool bl_rate_acked(bl_rate *r, uint64_t bytes, uint64_t chunk)
{
    uint64_t own = BL_RATE_OWN_CHUNKS * chunk;
    bool first = r->bytes < own && r->bytes + bytes >= own;
    r->bytes += bytes;
    return first;
}

void bl_rate_tick(bl_rate *r)
{
    r->win_bytes[r->ticks % BL_RATE_TICKS] = r->bytes;
    r->win_busy[r->ticks % BL_RATE_TICKS] = r->busy_ms;
    r->ticks++;
}

double bl_rate_get(const bl_rate *r, uint64_t chunk)
{
    if (r->bytes < BL_RATE_OWN_CHUNKS * chunk || r->busy_ms == 0)
        return r->probe;
    if (r->ticks) {
        unsigned back = r->ticks < BL_RATE_TICKS ? r->ticks : BL_RATE_TICKS;
        unsigned o = (r->ticks - back) % BL_RATE_TICKS;
        uint64_t db = r->bytes - r->win_bytes[o], dt = r->busy_ms - r->win_busy[o];
        if (dt >= BL_RATE_MIN_BUSY_MS)
            return (double)(db ? db : chunk / 2) * 1000.0 / (double)dt;
    }
    return (double)r->bytes * 1000.0 / (double)r->busy_ms;
}
