/* bitfield: which pieces a peer (or we) have, in BitTorrent wire order.
 *
 * Bit 7 (the high bit) of byte 0 is piece 0, bit 0 of byte 0 is piece 7,
 * and so on; the bytes are exactly what a BEP 3 bitfield message carries.
 * The spare bits after the last piece are always zero: a received bitfield
 * with any spare bit set is refused (bl_bitfield_check_wire).  The number
 * of set bits is kept up to date, so count/all/none are O(1).  Indexes
 * outside [0, npieces) read as unset and are ignored by set/clear. */
#ifndef BL_SWARM_BITFIELD_H
#define BL_SWARM_BITFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct bl_bitfield {
    uint8_t *bits;      /* bl_bitfield_bytes(npieces) bytes */
    uint32_t npieces;
    uint32_t nset;      /* set bits; read with bl_bitfield_count */
} bl_bitfield;

static inline size_t bl_bitfield_bytes(uint32_t npieces) { return ((size_t)npieces + 7) / 8; }

/* All pieces unset.  npieces may be 0.  Returns 0 or -1 (out of memory). */
int bl_bitfield_init(bl_bitfield *bf, uint32_t npieces, bl_err *err);
void bl_bitfield_free(bl_bitfield *bf);

bool bl_bitfield_test(const bl_bitfield *bf, uint32_t i);
/* Return true when the bit changed. */
bool bl_bitfield_set(bl_bitfield *bf, uint32_t i);
bool bl_bitfield_clear(bl_bitfield *bf, uint32_t i);
void bl_bitfield_set_all(bl_bitfield *bf);    /* BEP 6 have_all */
void bl_bitfield_clear_all(bl_bitfield *bf);  /* BEP 6 have_none */

static inline uint32_t bl_bitfield_count(const bl_bitfield *bf) { return bf->nset; }
/* all: every piece set (true for 0 pieces); none: no piece set. */
static inline bool bl_bitfield_all(const bl_bitfield *bf) { return bf->nset == bf->npieces; }
static inline bool bl_bitfield_none(const bl_bitfield *bf) { return bf->nset == 0; }

/* First set / unset index >= from; npieces when there is none. */
uint32_t bl_bitfield_next_set(const bl_bitfield *bf, uint32_t from);
uint32_t bl_bitfield_next_unset(const bl_bitfield *bf, uint32_t from);

/* A received bitfield payload must be exactly bl_bitfield_bytes(npieces)
 * long with zero spare bits.  0, or -1 with a message naming the fault. */
int bl_bitfield_check_wire(const uint8_t *bytes, size_t len, uint32_t npieces, bl_err *err);
/* Check as above, then replace bf's contents (bf->npieces stays). */
int bl_bitfield_load(bl_bitfield *bf, const uint8_t *bytes, size_t len, bl_err *err);

/* Set bits in raw wire-order bytes (spare bits included if set). */
uint64_t bl_bitfield_popcount(const uint8_t *bytes, size_t len);

/* True if theirs has a piece that have lacks (we are interested).
 * Both must have the same npieces; false otherwise. */
bool bl_bitfield_wants(const bl_bitfield *have, const bl_bitfield *theirs);

#endif
