/* libFuzzer target: the strict bencode decoder.
 *
 * Whatever the bytes, decoding must not crash.  When it accepts, re-encoding
 * the node tree must give back the input byte for byte (the decoder accepts
 * only canonical bencode), and each node's byte span must hold exactly that
 * node's encoding.  The same bytes also go through bl_bdecode_prefix, whose
 * accepted prefix must round-trip the same way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, size_t at)
{
    fprintf(stderr, "fuzz_bencode: %s (node %zu)\n", what, at);
    abort();
}

/* Re-encode the subtree at node i into b; returns the index after it. */
static size_t reencode(const bl_bdoc *d, size_t i, bl_buf *b)
{
    if (i >= d->n)
        die("child index past the node array", i);
    const bl_bnode *n = &d->nodes[i];
    size_t start = b->len;
    size_t next;
    switch (n->type) {
    case BL_BINT:
        bl_benc_int(b, n->ival);
        next = i + 1;
        break;
    case BL_BSTR:
        if (n->str < d->buf || n->str + n->slen > d->buf + d->len)
            die("string outside the input", i);
        bl_benc_str(b, n->str, n->slen);
        next = i + 1;
        break;
    case BL_BLIST:
    case BL_BDICT: {
        if (n->end <= i || n->end > d->n)
            die("bad subtree end", i);
        bl_buf_putc(b, n->type == BL_BLIST ? 'l' : 'd');
        size_t j = i + 1, kids = 0;
        while (j < n->end) {
            if (n->type == BL_BDICT && kids % 2 == 0 && d->nodes[j].type != BL_BSTR)
                die("dictionary key is not a string", j);
            j = reencode(d, j, b);
            kids++;
        }
        if (j != n->end)
            die("children overrun the subtree", i);
        if (kids != (n->type == BL_BLIST ? n->count : 2 * (size_t)n->count))
            die("count does not match the children", i);
        bl_benc_end(b);
        next = n->end;
        break;
    }
    default:
        die("unknown node type", i);
        return 0;
    }
    /* the node's span is exactly its encoding */
    size_t got = b->len - start;
    if (n->len != got || n->off + n->len > d->len || memcmp(d->buf + n->off, b->data + start, got))
        die("node span differs from its re-encoding", i);
    return next;
}

static void check(const bl_bdoc *d)
{
    bl_buf b;
    bl_buf_init(&b);
    if (d->n == 0 || reencode(d, 0, &b) != d->n)
        die("nodes left after the root", 0);
    if (b.oom || b.len != d->len || memcmp(b.data, d->buf, d->len))
        die("re-encoding differs from the input", 0);
    bl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* small limits too, so the limit paths get exercised */
    static const bl_blimits small = {.max_depth = 4, .max_nodes = 32};
    for (int pass = 0; pass < 2; pass++) {
        const bl_blimits *lim = pass ? &small : NULL;
        bl_bdoc d;
        bl_err err;
        if (bl_bdecode(&d, data, size, lim, &err) == 0) {
            if (d.len != size)
                die("accepted with a length other than the input's", 0);
            check(&d);
            bl_bdoc_free(&d);
        } else if (err.offset > size) {
            die("error offset past the input", err.offset);
        }
        size_t used = 0;
        if (bl_bdecode_prefix(&d, data, size, lim, &used, &err) == 0) {
            if (used == 0 || used > size || d.len != used)
                die("bad prefix length", used);
            check(&d);
            bl_bdoc_free(&d);
        } else if (err.offset > size) {
            die("prefix error offset past the input", err.offset);
        }
    }
    return 0;
}
