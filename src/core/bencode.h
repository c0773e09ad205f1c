/* bencode: a strict decoder and a streaming encoder (BEP 3).
 *
 * The decoder accepts only canonical bencode, so that re-encoding a decoded
 * value reproduces the input byte for byte and an info-hash computed over a
 * span of the input is the info-hash every other client computes:
 *   - dictionary keys are strings, strictly increasing in byte order
 *     (no duplicates);
 *   - integers have no leading zeros, no "-0", fit in int64;
 *   - string lengths have no leading zeros and fit in the remaining input;
 *   - nothing follows the top-level value.
 * Nesting depth and node count are bounded by bl_blimits.  On error the
 * decoder reports the byte offset of the first offending byte in err->offset
 * and in the message.
 *
 * Decoded values are a flat pre-order array of nodes pointing into the
 * caller's buffer (no copies): the buffer must outlive the document.  A
 * container's children are nodes[i+1 .. nodes[i].end); a dictionary's
 * children alternate key, value. */
#ifndef BL_CORE_BENCODE_H
#define BL_CORE_BENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum bl_btype { BL_BINT = 1, BL_BSTR, BL_BLIST, BL_BDICT };

typedef struct bl_bnode {
    enum bl_btype type;
    uint32_t end;        /* index one past this node's subtree */
    uint32_t count;      /* list: items; dict: key/value pairs */
    size_t off, len;     /* byte span of the whole encoded value */
    int64_t ival;        /* BL_BINT */
    const uint8_t *str;  /* BL_BSTR: the string bytes (not NUL-terminated) */
    size_t slen;
} bl_bnode;

typedef struct bl_blimits {
    unsigned max_depth;  /* containers nested deeper than this are refused */
    size_t max_nodes;    /* values in the whole document */
} bl_blimits;

/* Defaults fit any real metainfo: depth 32, 4 M nodes. */
extern const bl_blimits bl_blimits_default;

typedef struct bl_bdoc {
    const uint8_t *buf;
    size_t len;
    bl_bnode *nodes;
    size_t n;
} bl_bdoc;

/* Decode buf[0..len) completely.  lim may be NULL for the defaults.
 * Returns 0, or -1 with err filled (err->offset = first bad byte). */
int bl_bdecode(bl_bdoc *doc, const uint8_t *buf, size_t len, const bl_blimits *lim, bl_err *err);
/* Decode one value from the front of buf, allowing trailing bytes; *used is
 * set to the value's length.  For protocols that embed bencode (BEP 10). */
int bl_bdecode_prefix(bl_bdoc *doc, const uint8_t *buf, size_t len, const bl_blimits *lim,
                      size_t *used, bl_err *err);
void bl_bdoc_free(bl_bdoc *doc);

static inline const bl_bnode *bl_broot(const bl_bdoc *d) { return d->n ? &d->nodes[0] : NULL; }

/* Dictionary lookup by key; NULL if absent or dict is not a dictionary. */
const bl_bnode *bl_bdict_get(const bl_bdoc *d, const bl_bnode *dict, const char *key);
/* Typed lookups: NULL when absent or of another type. */
const bl_bnode *bl_bdict_get_type(const bl_bdoc *d, const bl_bnode *dict, const char *key,
                                  enum bl_btype type);
/* Iterate a list's items or a dict's keys and values:
 *   for (const bl_bnode *c = bl_bfirst(d, n); c; c = bl_bnext(d, n, c)) */
const bl_bnode *bl_bfirst(const bl_bdoc *d, const bl_bnode *container);
const bl_bnode *bl_bnext(const bl_bdoc *d, const bl_bnode *container, const bl_bnode *child);
/* True if a string node equals the C string s. */
bool bl_bstr_eq(const bl_bnode *n, const char *s);
const char *bl_btype_name(enum bl_btype t);

/* Encoder: appends to a bl_buf.  Callers emit dictionary keys in sorted
 * order (bl_benc_check() verifies a finished encoding in tests). */
void bl_benc_int(bl_buf *b, int64_t v);
void bl_benc_str(bl_buf *b, const void *s, size_t n);
void bl_benc_cstr(bl_buf *b, const char *s);
static inline void bl_benc_list(bl_buf *b) { bl_buf_putc(b, 'l'); }
static inline void bl_benc_dict(bl_buf *b) { bl_buf_putc(b, 'd'); }
static inline void bl_benc_end(bl_buf *b) { bl_buf_putc(b, 'e'); }

#endif
