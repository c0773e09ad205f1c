/* Strict bencode decoder (see bencode.h for the rules it enforces).
 *
 * Recursive descent with an explicit depth bound; nodes are appended to a
 * growing array in pre-order, so a subtree is a contiguous index range. */
#include "core/bencode.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const bl_blimits bl_blimits_default = {.max_depth = 32, .max_nodes = 4u << 20};

typedef struct parser {
    const uint8_t *buf;
    size_t len, pos;
    bl_bnode *nodes;
    size_t n, cap;
    bl_blimits lim;
    bl_err *err;
} parser;

static int fail_at(parser *p, size_t off, const char *what)
{
    if (p->err)
        p->err->offset = off;
    return bl_fail(p->err, "bencode: %s at byte %zu", what, off);
}

static long new_node(parser *p, enum bl_btype t, size_t off)
{
    if (p->n >= p->lim.max_nodes)
        return fail_at(p, off, "too many values");
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        bl_bnode *nn = realloc(p->nodes, cap * sizeof *nn);
        if (!nn)
            return fail_at(p, off, "out of memory");
        p->nodes = nn;
        p->cap = cap;
    }
    bl_bnode *nd = &p->nodes[p->n];
    memset(nd, 0, sizeof *nd);
    nd->type = t;
    nd->off = off;
    return (long)p->n++;
}

/* Parse decimal digits up to `stop`; enforces canonical form. */
static int parse_int_text(parser *p, uint8_t stop, bool allow_neg, int64_t *out)
{
    size_t start = p->pos;
    bool neg = false;
    if (allow_neg && p->pos < p->len && p->buf[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    size_t digits = p->pos;
    uint64_t v = 0;
    while (p->pos < p->len && p->buf[p->pos] >= '0' && p->buf[p->pos] <= '9') {
        unsigned d = p->buf[p->pos] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return fail_at(p, start, "integer overflow");
        v = v * 10 + d;
        p->pos++;
    }
    size_t ndig = p->pos - digits;
    if (p->pos >= p->len)
        return fail_at(p, p->pos, "truncated input");
    if (p->buf[p->pos] != stop || ndig == 0)
        return fail_at(p, p->pos, stop == ':' ? "bad string length" : "bad integer");
    if (ndig > 1 && p->buf[digits] == '0')
        return fail_at(p, digits, "leading zero");
    if (neg && v == 0)
        return fail_at(p, start, "negative zero");
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return fail_at(p, start, "integer overflow");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    p->pos++; /* the stop byte */
    return 0;
}

static int parse_value(parser *p, unsigned depth);

static int parse_string(parser *p, long idx)
{
    size_t start = p->pos;
    int64_t n;
    if (parse_int_text(p, ':', false, &n) < 0)
        return -1;
    if ((uint64_t)n > p->len - p->pos)
        return fail_at(p, start, "string length beyond end of input");
    bl_bnode *nd = &p->nodes[idx];
    nd->str = p->buf + p->pos;
    nd->slen = (size_t)n;
    p->pos += (size_t)n;
    return 0;
}

static int key_cmp(const bl_bnode *a, const bl_bnode *b)
{
    size_t m = a->slen < b->slen ? a->slen : b->slen;
    int c = memcmp(a->str, b->str, m);
    if (c)
        return c;
    return a->slen < b->slen ? -1 : a->slen > b->slen;
}

static int parse_value(parser *p, unsigned depth)
{
    if (p->pos >= p->len)
        return fail_at(p, p->pos, "truncated input");
    size_t start = p->pos;
    uint8_t c = p->buf[p->pos];
    long idx;
    if (c == 'i') {
        if ((idx = new_node(p, BL_BINT, start)) < 0)
            return -1;
        p->pos++;
        int64_t v;
        if (parse_int_text(p, 'e', true, &v) < 0)
            return -1;
        p->nodes[idx].ival = v;
    } else if (c >= '0' && c <= '9') {
        if ((idx = new_node(p, BL_BSTR, start)) < 0 || parse_string(p, idx) < 0)
            return -1;
    } else if (c == 'l' || c == 'd') {
        if (depth >= p->lim.max_depth)
            return fail_at(p, start, "nesting too deep");
        if ((idx = new_node(p, c == 'l' ? BL_BLIST : BL_BDICT, start)) < 0)
            return -1;
        p->pos++;
        uint32_t count = 0;
        long prev_key = -1;
        for (;;) {
            if (p->pos >= p->len)
                return fail_at(p, p->pos, "truncated input");
            if (p->buf[p->pos] == 'e') {
                p->pos++;
                break;
            }
            if (c == 'd') {
                size_t koff = p->pos;
                if (p->buf[p->pos] < '0' || p->buf[p->pos] > '9')
                    return fail_at(p, koff, "dictionary key is not a string");
                long k;
                if ((k = new_node(p, BL_BSTR, koff)) < 0 || parse_string(p, k) < 0)
                    return -1;
                p->nodes[k].len = p->pos - koff;
                p->nodes[k].end = (uint32_t)p->n;
                if (prev_key >= 0) {
                    int cmp = key_cmp(&p->nodes[prev_key], &p->nodes[k]);
                    if (cmp == 0)
                        return fail_at(p, koff, "duplicate dictionary key");
                    if (cmp > 0)
                        return fail_at(p, koff, "dictionary keys not sorted");
                }
                prev_key = k;
            }
            if (parse_value(p, depth + 1) < 0)
                return -1;
            if (count == UINT32_MAX)
                return fail_at(p, p->pos, "too many values");
            count++;
        }
        p->nodes[idx].count = count;
    } else {
        return fail_at(p, start, "unexpected byte");
    }
    p->nodes[idx].len = p->pos - start;
    p->nodes[idx].end = (uint32_t)p->n;
    return 0;
}

int bl_bdecode_prefix(bl_bdoc *doc, const uint8_t *buf, size_t len, const bl_blimits *lim,
                      size_t *used, bl_err *err)
{
    parser p = {.buf = buf, .len = len, .lim = lim ? *lim : bl_blimits_default, .err = err};
    if (p.lim.max_nodes > UINT32_MAX - 1)
        p.lim.max_nodes = UINT32_MAX - 1;
    memset(doc, 0, sizeof *doc);
    if (parse_value(&p, 0) < 0) {
        free(p.nodes);
        return -1;
    }
    doc->buf = buf;
    doc->len = p.pos;
    doc->nodes = p.nodes;
    doc->n = p.n;
    *used = p.pos;
    return 0;
}

int bl_bdecode(bl_bdoc *doc, const uint8_t *buf, size_t len, const bl_blimits *lim, bl_err *err)
{
    size_t used;
    if (bl_bdecode_prefix(doc, buf, len, lim, &used, err) < 0)
        return -1;
    if (used != len) {
        bl_bdoc_free(doc);
        if (err)
            err->offset = used;
        return bl_fail(err, "bencode: trailing bytes after the value at byte %zu", used);
    }
    return 0;
}

void bl_bdoc_free(bl_bdoc *doc)
{
    free(doc->nodes);
    memset(doc, 0, sizeof *doc);
}

const bl_bnode *bl_bfirst(const bl_bdoc *d, const bl_bnode *c)
{
    if (!c || (c->type != BL_BLIST && c->type != BL_BDICT))
        return NULL;
    size_t i = (size_t)(c - d->nodes) + 1;
    return i < c->end ? &d->nodes[i] : NULL;
}

const bl_bnode *bl_bnext(const bl_bdoc *d, const bl_bnode *c, const bl_bnode *child)
{
    size_t i = child->end;
    return i < c->end ? &d->nodes[i] : NULL;
}

bool bl_bstr_eq(const bl_bnode *n, const char *s)
{
    size_t l = strlen(s);
    return n && n->type == BL_BSTR && n->slen == l && memcmp(n->str, s, l) == 0;
}

const bl_bnode *bl_bdict_get(const bl_bdoc *d, const bl_bnode *dict, const char *key)
{
    if (!dict || dict->type != BL_BDICT)
        return NULL;
    for (const bl_bnode *k = bl_bfirst(d, dict); k; ) {
        const bl_bnode *v = bl_bnext(d, dict, k);
        if (!v)
            return NULL;
        if (bl_bstr_eq(k, key))
            return v;
        k = bl_bnext(d, dict, v);
    }
    return NULL;
}

const bl_bnode *bl_bdict_get_type(const bl_bdoc *d, const bl_bnode *dict, const char *key,
                                  enum bl_btype type)
{
    const bl_bnode *v = bl_bdict_get(d, dict, key);
    return v && v->type == type ? v : NULL;
}

const char *bl_btype_name(enum bl_btype t)
{
    switch (t) {
    case BL_BINT: return "integer";
    case BL_BSTR: return "string";
    case BL_BLIST: return "list";
    case BL_BDICT: return "dictionary";
    }
    return "?";
}

void bl_benc_int(bl_buf *b, int64_t v) { bl_buf_printf(b, "i%" PRId64 "e", v); }

void bl_benc_str(bl_buf *b, const void *s, size_t n)
{
    bl_buf_printf(b, "%zu:", n);
    bl_buf_put(b, s, n);
}

void bl_benc_cstr(bl_buf *b, const char *s) { bl_benc_str(b, s, strlen(s)); }
