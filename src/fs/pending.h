/* pending: who is waiting for which pieces (blocked reads, "make this file
 * local" requests), and when they give up.
 *
 * A waiter needs a set of pieces; it is registered on the wait list of each
 * piece it still lacks.  When a piece arrives, every waiter on its list
 * loses one missing piece, and those with none left become ready.  A waiter
 * fails (result ETIMEDOUT) when no piece it needs arrives for its timeout:
 * each arrival of a needed piece re-arms the deadline, so a large file that
 * keeps coming is never cut off while a read whose pieces cannot come fails
 * after the timeout.  Ready and failed waiters queue up in order; the caller
 * drains them with bl_pending_pop() outside of the events that made them,
 * so replying never re-enters this structure.
 *
 * Pure bookkeeping: the caller passes the time and says which pieces are
 * had.  Ids are slot + generation, so a stale id never touches a newer
 * waiter. */
#ifndef BL_FS_PENDING_H
#define BL_FS_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bl_pending bl_pending;

typedef bool (*bl_pending_have_fn)(void *ctx, uint32_t piece);

typedef struct bl_pending_done {
    void *cookie;
    int result;        /* 0: every piece is had; ETIMEDOUT: gave up */
    uint32_t piece;    /* ETIMEDOUT: the first piece still missing */
} bl_pending_done;

/* max_waiters bounds the waiters alive at once (0: 65536). */
bl_pending *bl_pending_new(uint32_t num_pieces, size_t max_waiters);
void bl_pending_free(bl_pending *p);

/* Wait for pieces [first, last] (clamped to the torrent) that have() says
 * are missing.  Returns 0 if none is missing (nothing registered: the
 * caller proceeds at once), an id > 0 if registered, or -1 when the bound
 * is reached or memory runs out.  The deadline is now + timeout_ms. */
int64_t bl_pending_add(bl_pending *p, uint32_t first, uint32_t last, bl_pending_have_fn have,
                       void *ctx, uint64_t now, uint64_t timeout_ms, void *cookie);

/* Piece arrived (verified).  Returns how many waiters became ready. */
size_t bl_pending_piece(bl_pending *p, uint32_t piece, uint64_t now);

/* Fail every waiter whose deadline is <= now.  Returns how many. */
size_t bl_pending_expire(bl_pending *p, uint64_t now);

/* Fail every waiter with result (e.g. ECANCELED at shutdown). */
size_t bl_pending_fail_all(bl_pending *p, int result);

/* Remove a waiter without queueing it (its owner answers it another way,
 * e.g. interrupted).  Returns its cookie, or NULL if id is not waiting. */
void *bl_pending_cancel(bl_pending *p, int64_t id);

/* Next ready or failed waiter, in the order they were queued. */
bool bl_pending_pop(bl_pending *p, bl_pending_done *out);

/* Earliest deadline of a waiting waiter, UINT64_MAX if none. */
uint64_t bl_pending_next_deadline(const bl_pending *p);
size_t bl_pending_count(const bl_pending *p);      /* waiting (not yet queued) */
size_t bl_pending_on_piece(const bl_pending *p, uint32_t piece); /* waiting for piece */

#endif
