/* sha1batch: SHA-1 of many independent buffers, several at once.
 *
 * Piece verification is the largest single cost of a node (a quarter to a
 * third of all CPU in bench/swarm at N=16).  With Intel's multi-buffer
 * library (ipsec-mb, AVX2 or AVX-512), buffers shorter than
 * BL_SHA1_BATCH_MAX_LEN wait in SIMD lanes and are hashed together when
 * the lanes are full (8 or 16) or at bl_sha1_batch_flush(): measured here,
 * 16 pieces of 16 KiB hash ~8x faster than one at a time with OpenSSL, but
 * a batch of one ~1.5x slower.  Longer buffers, CPUs with SHA extensions
 * (OpenSSL is as fast there without waiting) and builds without the
 * library hash at submit with bl_sha1().
 *
 * done(arg, tag, digest) runs once per submitted buffer, from submit or
 * flush, on the calling thread; it must not call back into the batch.  A
 * buffer must stay allocated and unchanged until its done() has run.  One
 * thread per batch. */
#ifndef BL_CORE_SHA1BATCH_H
#define BL_CORE_SHA1BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/sha1.h"

/* ipsec-mb keeps a job's length in 16 bits */
#define BL_SHA1_BATCH_MAX_LEN 65535u

typedef struct bl_sha1_batch bl_sha1_batch;
typedef void (*bl_sha1_done_fn)(void *arg, uint64_t tag, const uint8_t digest[BL_SHA1_LEN]);

/* use_lanes false: always hash at submit (for comparisons and tests). */
bl_sha1_batch *bl_sha1_batch_new(bool use_lanes, bl_sha1_done_fn done, void *arg, bl_err *err);
/* Buffers still waiting are dropped without a done(). */
void bl_sha1_batch_free(bl_sha1_batch *b);

/* Hash data[0, len).  0, or -1 when called from inside done(). */
int bl_sha1_batch_submit(bl_sha1_batch *b, const void *data, size_t len, uint64_t tag,
                         bl_err *err);
/* Hash every waiting buffer now. */
void bl_sha1_batch_flush(bl_sha1_batch *b);
/* Buffers submitted whose done() has not run yet. */
unsigned bl_sha1_batch_waiting(const bl_sha1_batch *b);
/* Lanes hashed together (1 when every buffer is hashed at submit). */
unsigned bl_sha1_batch_lanes(const bl_sha1_batch *b);

#endif
