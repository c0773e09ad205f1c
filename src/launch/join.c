/* join: see join.h. */
#include "launch/join.h"

#include <time.h>

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Give up with the lock held: record why for the ranks waiting, drop our
 * registration, and remove the registry if nobody else holds it. */
static int give_up(bl_reg *r, pid_t holder, const bl_err *why)
{
    bl_reg_set_failure(r, why->msg);
    bl_reg_remove(r, holder, 0);
    bl_reg_remove_all(r); /* unlocks; removes nothing while another holder lives */
    return -1;
}

int bl_join(bl_reg *r, const bl_join_opts *o, const bl_join_ops *ops, bl_err *err)
{
    int64_t since = unix_ms();
    if (bl_reg_lock(r, o->lock_timeout_ms, since, err) < 0)
        return -1;
    if (bl_reg_add(r, o->holder, err) < 0 || (o->keep && bl_reg_set_keep(r, err) < 0)) {
        bl_reg_unlock(r);
        return -1;
    }
    int p = ops->probe(ops->arg, err);
    if (p > 0) {
        bl_reg_unlock(r);
        return BL_JOIN_JOINED;
    }
    if (p < 0)
        return give_up(r, o->holder, err);
    if (ops->start(ops->arg, err) < 0) {
        /* a rank killed while starting may have left a daemon that came up
         * after all: use it rather than fail */
        bl_err ignored;
        if (ops->probe(ops->arg, &ignored) > 0) {
            bl_reg_unlock(r);
            return BL_JOIN_JOINED;
        }
        return give_up(r, o->holder, err);
    }
    bl_reg_clear_failure(r);
    bl_reg_unlock(r);
    return BL_JOIN_STARTED;
}

void bl_join_leave(bl_reg *r, pid_t holder)
{
    bl_reg_remove(r, holder, 0);
}
