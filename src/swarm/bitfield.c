#include "swarm/bitfield.h"

#include <stdlib.h>
#include <string.h>

/* Mask of the bits of the last byte that belong to pieces. */
static uint8_t last_byte_mask(uint32_t npieces)
{
    unsigned tail = npieces % 8;
    return tail ? (uint8_t)(0xFFu << (8 - tail)) : 0xFF;
}

int bl_bitfield_init(bl_bitfield *bf, uint32_t npieces, bl_err *err)
{
    size_t n = bl_bitfield_bytes(npieces);
    bf->bits = calloc(n ? n : 1, 1);
    if (!bf->bits) {
        bf->npieces = bf->nset = 0;
        return bl_fail(err, "bitfield: out of memory for %u pieces", npieces);
    }
    bf->npieces = npieces;
    bf->nset = 0;
    return 0;
}

void bl_bitfield_free(bl_bitfield *bf)
{
    free(bf->bits);
    bf->bits = NULL;
    bf->npieces = bf->nset = 0;
}

bool bl_bitfield_test(const bl_bitfield *bf, uint32_t i)
{
    return i < bf->npieces && (bf->bits[i / 8] & (0x80u >> (i % 8)));
}

bool bl_bitfield_set(bl_bitfield *bf, uint32_t i)
{
    if (i >= bf->npieces || bl_bitfield_test(bf, i))
        return false;
    bf->bits[i / 8] |= (uint8_t)(0x80u >> (i % 8));
    bf->nset++;
    return true;
}

bool bl_bitfield_clear(bl_bitfield *bf, uint32_t i)
{
    if (!bl_bitfield_test(bf, i))
        return false;
    bf->bits[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    bf->nset--;
    return true;
}

void bl_bitfield_set_all(bl_bitfield *bf)
{
    size_t n = bl_bitfield_bytes(bf->npieces);
    if (n == 0)
        return;
    memset(bf->bits, 0xFF, n);
    bf->bits[n - 1] = last_byte_mask(bf->npieces);
    bf->nset = bf->npieces;
}

void bl_bitfield_clear_all(bl_bitfield *bf)
{
    memset(bf->bits, 0, bl_bitfield_bytes(bf->npieces));
    bf->nset = 0;
}

/* Scan for the first index >= from whose bit equals want.  Whole bytes
 * that cannot match are skipped (0x00 when looking for a set bit, 0xFF
 * when looking for an unset one). */
static uint32_t next_bit(const bl_bitfield *bf, uint32_t from, bool want)
{
    uint32_t n = bf->npieces;
    if (from >= n)
        return n;
    size_t nbytes = bl_bitfield_bytes(n);
    size_t byte = from / 8;
    uint8_t skip = want ? 0x00 : 0xFF;
    /* Bits before `from` in its byte are masked to the non-matching value. */
    uint8_t b = bf->bits[byte];
    uint8_t head = (uint8_t)(0xFFu >> (from % 8));
    b = want ? (uint8_t)(b & head) : (uint8_t)(b | (uint8_t)~head);
    for (;;) {
        if (b != skip) {
            uint8_t m = want ? b : (uint8_t)~b;
            uint32_t i = (uint32_t)(byte * 8) + (uint32_t)(__builtin_clz((unsigned)m) - 24);
            return i < n ? i : n;
        }
        if (++byte >= nbytes)
            return n;
        b = bf->bits[byte];
    }
}

uint32_t bl_bitfield_next_set(const bl_bitfield *bf, uint32_t from) { return next_bit(bf, from, true); }

uint32_t bl_bitfield_next_unset(const bl_bitfield *bf, uint32_t from) { return next_bit(bf, from, false); }

int bl_bitfield_check_wire(const uint8_t *bytes, size_t len, uint32_t npieces, bl_err *err)
{
    size_t want = bl_bitfield_bytes(npieces);
    if (len != want)
        return bl_fail(err, "bitfield: %zu bytes for %u pieces (expected %zu)", len, npieces, want);
    if (len > 0 && (bytes[len - 1] & (uint8_t)~last_byte_mask(npieces)))
        return bl_fail(err, "bitfield: spare bits after piece %u are set", npieces - 1);
    return 0;
}

uint64_t bl_bitfield_popcount(const uint8_t *bytes, size_t len)
{
    uint64_t total = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, bytes + i, 8);
        total += (uint64_t)__builtin_popcountll(w);
    }
    for (; i < len; i++)
        total += (uint64_t)__builtin_popcount(bytes[i]);
    return total;
}

int bl_bitfield_load(bl_bitfield *bf, const uint8_t *bytes, size_t len, bl_err *err)
{
    if (bl_bitfield_check_wire(bytes, len, bf->npieces, err) < 0)
        return -1;
    if (len)
        memcpy(bf->bits, bytes, len);
    bf->nset = (uint32_t)bl_bitfield_popcount(bytes, len);
    return 0;
}

bool bl_bitfield_wants(const bl_bitfield *have, const bl_bitfield *theirs)
{
    if (have->npieces != theirs->npieces)
        return false;
    size_t n = bl_bitfield_bytes(have->npieces);
    for (size_t i = 0; i < n; i++)
        if (theirs->bits[i] & (uint8_t)~have->bits[i])
            return true;
    return false;
}
