/* rs: Reed-Solomon K:M stripe coding for result offload (ISA-L).
 *
 * A stripe is K data chunks of equal length; encoding adds M-K parity
 * chunks (Cauchy matrix, so every K x K submatrix is invertible).  Any K of
 * the M chunks give back the K data chunks.  "4:5" is the paper's default:
 * four data chunks, five chunks stored, one loss tolerated per stripe.
 * A codec is immutable after bl_rs_new and may be shared; decode builds its
 * tables per call (the pattern of lost chunks differs per stripe). */
#ifndef BL_OFFLOAD_RS_H
#define BL_OFFLOAD_RS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ISA-L's GF(2^8) limits k + parity to 255; we stay far below. */
#define BL_RS_MAX_M 64

typedef struct bl_rs bl_rs;

/* 1 <= k <= m <= BL_RS_MAX_M. */
bl_rs *bl_rs_new(unsigned k, unsigned m, bl_err *err);
void bl_rs_free(bl_rs *rs);
unsigned bl_rs_k(const bl_rs *rs);
unsigned bl_rs_m(const bl_rs *rs);

/* Parse "K:M" (e.g. "4:5"); 0 or -1 with err. */
int bl_rs_parse(const char *s, unsigned *k, unsigned *m, bl_err *err);

/* data[0..k) -> parity[0..m-k), each len bytes. */
void bl_rs_encode(const bl_rs *rs, size_t len, const uint8_t *const *data, uint8_t *const *parity);

/* chunks[0..m): present[i] != 0 where chunks[i] holds chunk i (len bytes).
 * Rebuilds every missing data chunk (index < k) in place into chunks[i],
 * which must point at writable memory of len bytes for each missing data
 * index.  Parity chunks are not rebuilt.  Returns 0, or -1 with err when
 * fewer than k chunks are present. */
int bl_rs_decode(const bl_rs *rs, size_t len, uint8_t *const *chunks, const uint8_t *present,
                 bl_err *err);

#endif
