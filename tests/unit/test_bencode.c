/* Unit tests for the strict bencode decoder and the encoder (core/bencode.h).
 *
 * Every decode runs on an exact-size heap copy of the input, so that ASan
 * reports any read past the end.  Randomised tests use a fixed seed that can
 * be changed with BL_TEST_SEED=<n> and is printed on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bencode.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic, good enough to spread test inputs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static size_t rng_below(size_t n) { return n ? (size_t)(rng() % n) : 0; }

/* An exact-size heap copy: ASan catches a read one byte past the input. */
static uint8_t *dup_exact(const void *s, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len)
        memcpy(p, s, len);
    return p;
}

/* Re-encode the subtree at node i; returns the index after it. */
static size_t reencode(const bl_bdoc *d, size_t i, bl_buf *b)
{
    const bl_bnode *n = &d->nodes[i];
    switch (n->type) {
    case BL_BINT:
        bl_benc_int(b, n->ival);
        return i + 1;
    case BL_BSTR:
        bl_benc_str(b, n->str, n->slen);
        return i + 1;
    case BL_BLIST:
    case BL_BDICT: {
        bl_buf_putc(b, n->type == BL_BLIST ? 'l' : 'd');
        size_t j = i + 1;
        while (j < n->end)
            j = reencode(d, j, b);
        assert_int_equal(j, n->end);
        bl_benc_end(b);
        return n->end;
    }
    }
    fail_msg("node %zu has bad type %d", i, (int)n->type);
    return d->n;
}

/* Structural invariants every successful decode must satisfy. */
static void check_invariants(const bl_bdoc *d)
{
    assert_true(d->n > 0);
    assert_int_equal(d->nodes[0].off, 0);
    assert_int_equal(d->nodes[0].len, d->len);
    assert_int_equal(d->nodes[0].end, d->n);
    for (size_t i = 0; i < d->n; i++) {
        const bl_bnode *n = &d->nodes[i];
        assert_true(n->off + n->len <= d->len);
        assert_true(n->end > i && n->end <= d->n);
        const uint8_t *p = d->buf + n->off;
        switch (n->type) {
        case BL_BINT:
            assert_int_equal(n->end, i + 1);
            assert_int_equal(p[0], 'i');
            assert_int_equal(p[n->len - 1], 'e');
            break;
        case BL_BSTR:
            assert_int_equal(n->end, i + 1);
            assert_true(n->slen < n->len);
            assert_ptr_equal(n->str, p + n->len - n->slen);
            assert_int_equal(n->str[-1], ':');
            break;
        case BL_BLIST:
        case BL_BDICT: {
            assert_int_equal(p[0], n->type == BL_BLIST ? 'l' : 'd');
            assert_int_equal(p[n->len - 1], 'e');
            /* children tile the container's span exactly */
            size_t at = n->off + 1, kids = 0;
            const bl_bnode *prev_key = NULL;
            for (const bl_bnode *c = bl_bfirst(d, n); c; c = bl_bnext(d, n, c), kids++) {
                assert_int_equal(c->off, at);
                at += c->len;
                if (n->type == BL_BDICT && kids % 2 == 0) {
                    assert_int_equal(c->type, BL_BSTR);
                    if (prev_key) {
                        size_t m = prev_key->slen < c->slen ? prev_key->slen : c->slen;
                        int cmp = memcmp(prev_key->str, c->str, m);
                        assert_true(cmp < 0 || (cmp == 0 && prev_key->slen < c->slen));
                    }
                    prev_key = c;
                }
            }
            assert_int_equal(at, n->off + n->len - 1);
            assert_int_equal(kids, n->type == BL_BLIST ? n->count : 2 * (size_t)n->count);
            break;
        }
        default:
            fail_msg("node %zu has bad type %d", i, (int)n->type);
        }
    }
}

/* Decode s (exact copy), check invariants and that re-encoding gives s back. */
static void expect_ok_lim(const void *s, size_t len, const bl_blimits *lim)
{
    uint8_t *copy = dup_exact(s, len);
    bl_bdoc d;
    bl_err err = {.offset = 0};
    int rc = bl_bdecode(&d, copy, len, lim, &err);
    if (rc != 0)
        fail_msg("decode of %.*s failed: %s", (int)(len > 200 ? 200 : len), (const char *)s, err.msg);
    assert_ptr_equal(d.buf, copy);
    assert_int_equal(d.len, len);
    check_invariants(&d);
    bl_buf b;
    bl_buf_init(&b);
    assert_int_equal(reencode(&d, 0, &b), d.n);
    assert_false(b.oom);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, s, len);
    bl_buf_free(&b);
    bl_bdoc_free(&d);
    assert_null(d.nodes);
    free(copy);
}

static void expect_ok(const char *s) { expect_ok_lim(s, strlen(s), NULL); }

/* The message must name the same offset the err struct carries. */
static void check_err_message(const bl_err *err)
{
    char at[48];
    snprintf(at, sizeof at, "at byte %zu", err->offset);
    if (!strstr(err->msg, at))
        fail_msg("message \"%s\" does not say \"%s\"", err->msg, at);
    assert_null(strchr(err->msg, '\n'));
}

static void expect_err_lim(const void *s, size_t len, const bl_blimits *lim, size_t offset,
                           const char *what)
{
    uint8_t *copy = dup_exact(s, len);
    bl_bdoc d;
    memset(&d, 0xa5, sizeof d);
    bl_err err = {.offset = 0};
    err.offset = (size_t)-1;
    int rc = bl_bdecode(&d, copy, len, lim, &err);
    if (rc != -1)
        fail_msg("decode of \"%.*s\" should fail (%s)", (int)len, (const char *)s, what);
    /* a failed decode leaves nothing to free and is safe to free anyway */
    assert_null(d.nodes);
    assert_int_equal(d.n, 0);
    bl_bdoc_free(&d);
    if (err.offset != offset)
        fail_msg("\"%.*s\": error offset %zu, expected %zu (%s)", (int)len, (const char *)s,
                 err.offset, offset, err.msg);
    if (!strstr(err.msg, what))
        fail_msg("\"%.*s\": message \"%s\" lacks \"%s\"", (int)len, (const char *)s, err.msg, what);
    check_err_message(&err);
    /* err may be NULL */
    assert_int_equal(bl_bdecode(&d, copy, len, lim, NULL), -1);
    free(copy);
}

static void expect_err(const char *s, size_t offset, const char *what)
{
    expect_err_lim(s, strlen(s), NULL, offset, what);
}

/* ---- value types -------------------------------------------------------- */

static void test_integers(void **state)
{
    (void)state;
    struct { const char *s; int64_t v; } ok[] = {
        {"i0e", 0}, {"i1e", 1}, {"i-1e", -1}, {"i42e", 42}, {"i-42e", -42},
        {"i10e", 10}, {"i-10e", -10}, {"i1000000000000e", 1000000000000},
        {"i9223372036854775807e", INT64_MAX}, {"i-9223372036854775808e", INT64_MIN},
        {"i9223372036854775806e", INT64_MAX - 1}, {"i-9223372036854775807e", INT64_MIN + 1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        expect_ok(ok[i].s);
        bl_bdoc d;
        bl_err err;
        assert_int_equal(bl_bdecode(&d, (const uint8_t *)ok[i].s, strlen(ok[i].s), NULL, &err), 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.nodes[0].type, BL_BINT);
        assert_true(d.nodes[0].ival == ok[i].v);
        bl_bdoc_free(&d);
    }
}

static void test_strings(void **state)
{
    (void)state;
    expect_ok("0:");
    expect_ok("1:a");
    expect_ok("4:spam");
    expect_ok("10:0123456789");
    expect_ok("3:e:i"); /* syntax bytes inside strings are data */
    /* binary data, including NUL and 0xff */
    static const uint8_t bin[] = {'5', ':', 0, 0xff, 'e', '\n', 0x80};
    expect_ok_lim(bin, sizeof bin, NULL);

    bl_bdoc d;
    bl_err err;
    assert_int_equal(bl_bdecode(&d, bin, sizeof bin, NULL, &err), 0);
    assert_int_equal(d.nodes[0].type, BL_BSTR);
    assert_int_equal(d.nodes[0].slen, 5);
    assert_ptr_equal(d.nodes[0].str, bin + 2); /* points into the input, no copy */
    bl_bdoc_free(&d);

    /* a long string whose length has several digits */
    size_t n = 100000;
    char *big = malloc(n + 16);
    assert_non_null(big);
    int h = snprintf(big, 16, "%zu:", n);
    for (size_t i = 0; i < n; i++)
        big[h + i] = (char)('a' + i % 26);
    expect_ok_lim(big, (size_t)h + n, NULL);
    free(big);
}

static void test_lists_and_dicts(void **state)
{
    (void)state;
    expect_ok("le");
    expect_ok("de");
    expect_ok("li1ei2ei3ee");
    expect_ok("l4:spami42ee");
    expect_ok("llleee");
    expect_ok("lldeedee");
    expect_ok("d3:bar4:spam3:fooi42ee");
    expect_ok("d1:ad1:bl1:cdeeee");
    expect_ok("d0:i1e1:ai2ee"); /* the empty key sorts first */
    /* keys compare as unsigned bytes: 'B' < 'a' < 'ab' < 'b' < 0xff */
    expect_ok("d1:Bi0e1:ai1e2:abi2e1:bi3e1:\xffi4ee");

    const char *s = "d3:bar4:spam3:fool1:xi-3eee";
    bl_bdoc d;
    bl_err err;
    assert_int_equal(bl_bdecode(&d, (const uint8_t *)s, strlen(s), NULL, &err), 0);
    const bl_bnode *root = bl_broot(&d);
    assert_non_null(root);
    assert_int_equal(root->type, BL_BDICT);
    assert_int_equal(root->count, 2);
    assert_int_equal(d.n, 7); /* dict, bar, spam, foo, list, x, -3 */
    const bl_bnode *bar = bl_bdict_get(&d, root, "bar");
    assert_true(bl_bstr_eq(bar, "spam"));
    assert_false(bl_bstr_eq(bar, "spa"));
    assert_false(bl_bstr_eq(bar, "spamm"));
    assert_non_null(bl_bdict_get_type(&d, root, "bar", BL_BSTR));
    assert_null(bl_bdict_get_type(&d, root, "bar", BL_BINT));
    assert_null(bl_bdict_get(&d, root, "baz"));
    assert_null(bl_bdict_get(&d, root, "ba"));
    assert_null(bl_bdict_get(&d, root, "spam")); /* values are not keys */
    const bl_bnode *foo = bl_bdict_get_type(&d, root, "foo", BL_BLIST);
    assert_non_null(foo);
    assert_int_equal(foo->count, 2);
    const bl_bnode *c = bl_bfirst(&d, foo);
    assert_true(bl_bstr_eq(c, "x"));
    c = bl_bnext(&d, foo, c);
    assert_non_null(c);
    assert_int_equal(c->type, BL_BINT);
    assert_true(c->ival == -3);
    assert_null(bl_bnext(&d, foo, c));
    /* lookups on non-dicts and iteration on scalars are NULL, not crashes */
    assert_null(bl_bdict_get(&d, foo, "x"));
    assert_null(bl_bdict_get(&d, NULL, "x"));
    assert_null(bl_bfirst(&d, bar));
    assert_null(bl_bfirst(&d, NULL));
    bl_bdoc_free(&d);

    /* empty containers have no children */
    assert_int_equal(bl_bdecode(&d, (const uint8_t *)"le", 2, NULL, &err), 0);
    assert_null(bl_bfirst(&d, bl_broot(&d)));
    assert_int_equal(bl_broot(&d)->count, 0);
    bl_bdoc_free(&d);
    assert_null(bl_broot(&d));

    assert_string_equal(bl_btype_name(BL_BINT), "integer");
    assert_string_equal(bl_btype_name(BL_BSTR), "string");
    assert_string_equal(bl_btype_name(BL_BLIST), "list");
    assert_string_equal(bl_btype_name(BL_BDICT), "dictionary");
}

/* ---- byte spans --------------------------------------------------------- */

static void test_spans(void **state)
{
    (void)state;
    /* A metainfo-shaped document: the info dict's span is what gets hashed. */
    char pieces[21];
    memset(pieces, 'P', 20);
    pieces[20] = 0;
    char info[256], doc[512];
    snprintf(info, sizeof info,
             "d5:filesld6:lengthi5e4:pathl1:a5:b.txteee4:name3:set12:piece lengthi16384e"
             "6:pieces20:%se",
             pieces);
    snprintf(doc, sizeof doc, "d8:announce20:http://127.0.0.1:1/a4:info%s6:zzzzzzi1ee", info);
    size_t len = strlen(doc);
    expect_ok(doc);

    bl_bdoc d;
    bl_err err;
    assert_int_equal(bl_bdecode(&d, (const uint8_t *)doc, len, NULL, &err), 0);
    const bl_bnode *in = bl_bdict_get_type(&d, bl_broot(&d), "info", BL_BDICT);
    assert_non_null(in);
    assert_int_equal(in->len, strlen(info));
    assert_int_equal(in->off, (size_t)(strstr(doc, "4:infod") - doc) + 6);
    assert_memory_equal(doc + in->off, info, in->len);

    /* nested spans: info.files[0].path[1] is "5:b.txt" */
    const bl_bnode *files = bl_bdict_get_type(&d, in, "files", BL_BLIST);
    assert_non_null(files);
    const bl_bnode *f0 = bl_bfirst(&d, files);
    assert_non_null(f0);
    assert_int_equal(f0->type, BL_BDICT);
    assert_memory_equal(doc + f0->off, "d6:lengthi5e4:pathl1:a5:b.txtee", f0->len);
    assert_int_equal(f0->len, strlen("d6:lengthi5e4:pathl1:a5:b.txtee"));
    const bl_bnode *path = bl_bdict_get_type(&d, f0, "path", BL_BLIST);
    assert_non_null(path);
    const bl_bnode *p1 = bl_bnext(&d, path, bl_bfirst(&d, path));
    assert_non_null(p1);
    assert_int_equal(p1->len, 7);
    assert_memory_equal(doc + p1->off, "5:b.txt", 7);
    const bl_bnode *plen = bl_bdict_get_type(&d, in, "piece length", BL_BINT);
    assert_non_null(plen);
    assert_true(plen->ival == 16384);
    assert_memory_equal(doc + plen->off, "i16384e", plen->len);
    /* the key node's span covers the key's encoding */
    const bl_bnode *k = bl_bfirst(&d, in);
    assert_memory_equal(doc + k->off, "5:files", k->len);
    assert_int_equal(k->len, 7);
    bl_bdoc_free(&d);

    /* spans in lists */
    const char *l = "li1el3:abcee";
    assert_int_equal(bl_bdecode(&d, (const uint8_t *)l, strlen(l), NULL, &err), 0);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.nodes[1].off, 1);
    assert_int_equal(d.nodes[1].len, 3);
    assert_int_equal(d.nodes[2].off, 4);
    assert_int_equal(d.nodes[2].len, 7);
    assert_int_equal(d.nodes[2].end, 4);
    assert_int_equal(d.nodes[3].off, 5);
    assert_int_equal(d.nodes[3].len, 5);
    bl_bdoc_free(&d);
}

/* ---- rejects with offsets ----------------------------------------------- */

static void test_reject_syntax(void **state)
{
    (void)state;
    expect_err("", 0, "truncated");
    expect_err("x", 0, "unexpected byte");
    expect_err("e", 0, "unexpected byte");
    expect_err(" i1e", 0, "unexpected byte");
    expect_err("-1:a", 0, "unexpected byte");
    expect_err("li1ex", 4, "unexpected byte");
    expect_err("d1:ae", 4, "unexpected byte"); /* key without a value */
    expect_err("ie", 1, "bad integer");
    expect_err("i-e", 2, "bad integer");
    expect_err("i e", 1, "bad integer");
    expect_err("i+1e", 1, "bad integer");
    expect_err("i1.5e", 2, "bad integer");
    expect_err("i1-e", 2, "bad integer");
    expect_err("i--1e", 2, "bad integer");
    expect_err("i0x1e", 2, "bad integer");
    expect_err(":a", 0, "unexpected byte");
    expect_err("1a", 1, "bad string length");
    expect_err("1-:a", 1, "bad string length");
    /* trailing bytes */
    expect_err("i1ei2e", 3, "trailing");
    expect_err("i1e\n", 3, "trailing");
    expect_err("0:x", 2, "trailing");
    expect_err("lee", 2, "trailing");
    static const uint8_t nul_after[] = {'d', 'e', 0};
    expect_err_lim(nul_after, sizeof nul_after, NULL, 2, "trailing");
}

static void test_reject_leading_zeros(void **state)
{
    (void)state;
    expect_err("i00e", 1, "leading zero");
    expect_err("i01e", 1, "leading zero");
    expect_err("i-01e", 2, "leading zero");
    expect_err("i-00e", 2, "leading zero");
    expect_err("i00000000000000000000000000001e", 1, "leading zero");
    expect_err("01:a", 0, "leading zero");
    expect_err("00:", 0, "leading zero");
    expect_err("l02:abe", 1, "leading zero");
    expect_err("d01:ai1ee", 1, "leading zero");
    expect_err("i-0e", 1, "negative zero");
    expect_err("li-0ee", 2, "negative zero");
}

static void test_reject_int64_limits(void **state)
{
    (void)state;
    expect_err("i9223372036854775808e", 1, "overflow");
    expect_err("i-9223372036854775809e", 1, "overflow");
    expect_err("i18446744073709551615e", 1, "overflow");  /* UINT64_MAX */
    expect_err("i18446744073709551616e", 1, "overflow");  /* UINT64_MAX + 1 */
    expect_err("i-18446744073709551616e", 1, "overflow");
    expect_err("i99999999999999999999999e", 1, "overflow");
    expect_err("li1ei9223372036854775808ee", 5, "overflow");
    /* a very long digit run is refused without reading past it */
    char big[600];
    big[0] = 'i';
    memset(big + 1, '9', 500);
    big[501] = 'e';
    big[502] = 0;
    expect_err(big, 1, "overflow");
}

static void test_reject_string_lengths(void **state)
{
    (void)state;
    expect_err("99999999999999999999:", 0, "overflow");
    expect_err("18446744073709551615:", 0, "overflow");
    expect_err("9223372036854775808:", 0, "overflow");
    expect_err("9223372036854775807:", 0, "beyond end");
    expect_err("18446744073709551615:abc", 0, "overflow");
    expect_err("4:abc", 0, "beyond end");
    expect_err("2:", 0, "beyond end");
    expect_err("1:", 0, "beyond end");
    expect_err("l5:abce", 1, "beyond end");
    /* the 'e' is string data, so the list is unterminated */
    expect_err("l4:abce", 7, "truncated");
    expect_err("d1:a99999999999999999999:e", 4, "overflow");
    expect_err("d4294967297:ai1ee", 1, "beyond end");
    expect_ok("3:abc");
}

static void test_reject_dict_keys(void **state)
{
    (void)state;
    expect_err("d1:bi1e1:ai2ee", 7, "not sorted");
    expect_err("d2:abi1e1:ai2ee", 8, "not sorted"); /* "a" < "ab" */
    expect_err("d1:ai1e1:ai2ee", 7, "duplicate");
    expect_err("d0:i1e0:i2ee", 6, "duplicate");
    expect_err("d1:ai1e1:bi2e1:bi3ee", 13, "duplicate");
    expect_err("d1:\xffi1e1:ai2ee", 7, "not sorted"); /* bytes are unsigned */
    expect_err("di1ei2ee", 1, "not a string");
    expect_err("dlei1ee", 1, "not a string");
    expect_err("ddei1ee", 1, "not a string");
    expect_err("d1:ai1ei2ei3ee", 7, "not a string");
    expect_err("d-1:ai1ee", 1, "not a string");
    /* order is checked per dictionary, not across nesting levels */
    expect_ok("d1:bd1:ai1ee1:cd1:ai1eee");
    expect_err("d1:bd1:ai1ee1:ad1:ai1eee", 12, "not sorted");
    expect_err("ld1:bi1e1:ai1eee", 8, "not sorted");
}

/* Every proper prefix of a valid document is refused, at an offset inside it. */
static void check_all_prefixes(const uint8_t *s, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        uint8_t *copy = dup_exact(s, k);
        bl_bdoc d;
        bl_err err = {.offset = 0};
        err.offset = (size_t)-1;
        if (bl_bdecode(&d, copy, k, NULL, &err) != -1)
            fail_msg("prefix of length %zu of \"%.*s\" decoded", k, (int)len, (const char *)s);
        assert_true(err.offset <= k);
        assert_true(err.msg[0] != 0);
        check_err_message(&err);
        /* the prefix decoder must not accept it either */
        size_t used = 12345;
        if (bl_bdecode_prefix(&d, copy, k, NULL, &used, &err) != -1)
            fail_msg("bl_bdecode_prefix accepted prefix %zu of \"%.*s\"", k, (int)len, (const char *)s);
        assert_int_equal(used, 12345);
        free(copy);
    }
}

static void test_reject_truncated(void **state)
{
    (void)state;
    const char *docs[] = {
        "i-42e", "10:0123456789", "le", "de", "li1el3:abcee",
        "d3:bar4:spam3:fool1:xi-3eee",
        "d8:announce20:http://127.0.0.1:1/a4:infod6:lengthi1e4:name1:a"
        "12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        expect_ok(docs[i]);
        check_all_prefixes((const uint8_t *)docs[i], strlen(docs[i]));
    }
    /* offsets of a few truncations are exact */
    expect_err("i12", 3, "truncated");
    expect_err("l", 1, "truncated");
    expect_err("d1:a", 4, "truncated");
    expect_err("d1:ai1e", 7, "truncated");
    expect_err("12", 2, "truncated");
    expect_err("i-", 2, "truncated");
}

/* ---- limits ------------------------------------------------------------- */

static char *nested(char open, unsigned depth)
{
    char *s = malloc(2 * (size_t)depth + 1);
    assert_non_null(s);
    for (unsigned i = 0; i < depth; i++) {
        s[i] = open;
        s[2 * (size_t)depth - 1 - i] = 'e';
    }
    s[2 * (size_t)depth] = 0;
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    bl_blimits lim = {.max_depth = 5, .max_nodes = 1000};
    char *s = nested('l', 5);
    expect_ok_lim(s, strlen(s), &lim);
    free(s);
    s = nested('l', 6);
    expect_err_lim(s, strlen(s), &lim, 5, "too deep");
    free(s);

    /* dict nesting counts the same: d 1:a d 1:a ... */
    bl_blimits lim2 = {.max_depth = 2, .max_nodes = 1000};
    expect_ok_lim("d1:ad1:ai1eee", 13, &lim2);
    expect_err_lim("d1:ad1:ad1:ai1eeee", 18, &lim2, 8, "too deep");
    expect_err_lim("d1:ad1:alee", 11, &lim2, 8, "too deep");

    /* the default limit is 32 */
    assert_int_equal(bl_blimits_default.max_depth, 32);
    s = nested('l', 32);
    expect_ok(s);
    free(s);
    s = nested('l', 33);
    expect_err(s, 32, "too deep");
    free(s);
    s = nested('d', 33); /* refused for depth before the key check */
    expect_err(s, 1, "not a string");
    free(s);

    /* very deep input does not exhaust the stack */
    s = nested('l', 200000);
    expect_err(s, 32, "too deep");
    free(s);

    /* a depth limit of 0 still admits scalars */
    bl_blimits flat = {.max_depth = 0, .max_nodes = 10};
    expect_ok_lim("i1e", 3, &flat);
    expect_err_lim("le", 2, &flat, 0, "too deep");
}

static void test_node_limit(void **state)
{
    (void)state;
    /* "li1ei2ee" holds three values */
    bl_blimits lim = {.max_depth = 8, .max_nodes = 3};
    expect_ok_lim("li1ei2ee", 8, &lim);
    expect_err_lim("li1ei2ei3ee", 11, &lim, 7, "too many");
    /* dictionary keys count as values */
    expect_ok_lim("d1:ai1ee", 8, &lim);
    expect_err_lim("d1:ai1e1:bi2ee", 14, &lim, 7, "too many");
    bl_blimits one = {.max_depth = 8, .max_nodes = 1};
    expect_ok_lim("4:spam", 6, &one);
    expect_err_lim("li1ee", 5, &one, 1, "too many");
    bl_blimits none = {.max_depth = 8, .max_nodes = 0};
    expect_err_lim("i1e", 3, &none, 0, "too many");

    /* many values past the initial node array capacity */
    size_t n = 5000;
    char *s = malloc(3 * n + 3);
    assert_non_null(s);
    s[0] = 'l';
    for (size_t i = 0; i < n; i++)
        memcpy(s + 1 + 3 * i, "i7e", 3);
    s[1 + 3 * n] = 'e';
    s[2 + 3 * n] = 0;
    expect_ok(s);
    bl_blimits exact = {.max_depth = 2, .max_nodes = n + 1};
    expect_ok_lim(s, strlen(s), &exact);
    bl_blimits under = {.max_depth = 2, .max_nodes = n};
    expect_err_lim(s, strlen(s), &under, 1 + 3 * (n - 1), "too many");
    free(s);
}

/* ---- bl_bdecode_prefix -------------------------------------------------- */

static void test_prefix(void **state)
{
    (void)state;
    bl_bdoc d;
    bl_err err;
    size_t used = 0;
    const char *s = "d1:ai1eeTRAILING";
    assert_int_equal(bl_bdecode_prefix(&d, (const uint8_t *)s, strlen(s), NULL, &used, &err), 0);
    assert_int_equal(used, 8);
    assert_int_equal(d.len, 8);
    assert_int_equal(bl_broot(&d)->len, 8);
    assert_int_equal(bl_broot(&d)->type, BL_BDICT);
    bl_bdoc_free(&d);

    assert_int_equal(bl_bdecode_prefix(&d, (const uint8_t *)"i1ei2e", 6, NULL, &used, &err), 0);
    assert_int_equal(used, 3);
    assert_true(d.nodes[0].ival == 1);
    bl_bdoc_free(&d);

    /* exact fit */
    assert_int_equal(bl_bdecode_prefix(&d, (const uint8_t *)"le", 2, NULL, &used, &err), 0);
    assert_int_equal(used, 2);
    bl_bdoc_free(&d);

    /* errors inside the value still fail, with offsets */
    used = 99;
    assert_int_equal(bl_bdecode_prefix(&d, (const uint8_t *)"d1:bi1e1:ai2eeXX", 16, NULL, &used, &err), -1);
    assert_int_equal(err.offset, 7);
    assert_int_equal(used, 99);
    assert_int_equal(bl_bdecode_prefix(&d, (const uint8_t *)"", 0, NULL, &used, &err), -1);
    assert_int_equal(err.offset, 0);
    assert_int_equal(bl_bdecode_prefix(&d, (const uint8_t *)"5:abc", 5, NULL, &used, &err), -1);
    assert_int_equal(err.offset, 0);
    /* BEP 10 style: a dictionary followed by raw binary payload */
    static const uint8_t ut[] = {'d', '1', ':', 'x', 'i', '0', 'e', 'e', 0xff, 0x00, 'e'};
    assert_int_equal(bl_bdecode_prefix(&d, ut, sizeof ut, NULL, &used, &err), 0);
    assert_int_equal(used, 8);
    bl_bdoc_free(&d);
}

/* ---- encoder ------------------------------------------------------------ */

static void test_encoder(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_benc_dict(&b);
    bl_benc_cstr(&b, "a");
    bl_benc_int(&b, INT64_MIN);
    bl_benc_cstr(&b, "b");
    bl_benc_int(&b, INT64_MAX);
    bl_benc_cstr(&b, "c");
    bl_benc_list(&b);
    bl_benc_int(&b, 0);
    bl_benc_int(&b, -7);
    bl_benc_str(&b, "x\0y", 3);
    bl_benc_str(&b, "", 0);
    bl_benc_end(&b);
    bl_benc_end(&b);
    static const char want[] = "d1:ai-9223372036854775808e1:bi9223372036854775807e"
                               "1:cli0ei-7e3:x\0y0:ee";
    assert_false(b.oom);
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    expect_ok_lim(b.data, b.len, NULL);
    bl_buf_free(&b);
}

/* ---- randomised --------------------------------------------------------- */

static void gen_value(bl_buf *b, unsigned depth, size_t *nodes);

static void gen_string(bl_buf *b, size_t maxlen)
{
    size_t n = rng_below(maxlen + 1);
    uint8_t tmp[64];
    for (size_t i = 0; i < n && i < sizeof tmp; i++)
        tmp[i] = rng_below(4) ? (uint8_t)"abcde:ile0"[rng_below(10)] : (uint8_t)rng();
    bl_benc_str(b, tmp, n < sizeof tmp ? n : sizeof tmp);
}

static int cmp_keys(const void *a, const void *b)
{
    const bl_buf *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = m ? memcmp(x->data, y->data, m) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void gen_value(bl_buf *b, unsigned depth, size_t *nodes)
{
    ++*nodes;
    unsigned kind = (unsigned)rng_below(depth >= 6 ? 2 : 4);
    if (kind == 0) {
        static const int64_t special[] = {0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN};
        int64_t v = rng_below(3) ? (int64_t)(rng() >> (1 + rng_below(63))) * (rng() & 1 ? 1 : -1)
                                 : special[rng_below(8)];
        bl_benc_int(b, v);
    } else if (kind == 1) {
        gen_string(b, 12);
    } else if (kind == 2) {
        bl_benc_list(b);
        for (size_t i = rng_below(5); i > 0; i--)
            gen_value(b, depth + 1, nodes);
        bl_benc_end(b);
    } else {
        /* raw keys, sorted and de-duplicated before emitting */
        bl_buf keys[6];
        size_t nk = rng_below(6), uniq = 0;
        for (size_t i = 0; i < nk; i++) {
            bl_buf_init(&keys[i]);
            size_t kl = rng_below(4);
            for (size_t j = 0; j < kl; j++)
                bl_buf_putc(&keys[i], (uint8_t)(rng_below(3) ? 'a' + rng_below(3) : rng()));
        }
        qsort(keys, nk, sizeof keys[0], cmp_keys);
        bl_benc_dict(b);
        for (size_t i = 0; i < nk; i++) {
            if (uniq && cmp_keys(&keys[i], &keys[i - 1]) == 0)
                continue;
            uniq++;
            bl_benc_str(b, keys[i].data, keys[i].len);
            ++*nodes;
            gen_value(b, depth + 1, nodes);
        }
        bl_benc_end(b);
        for (size_t i = 0; i < nk; i++)
            bl_buf_free(&keys[i]);
    }
}

/* Random well-formed documents decode, round-trip, and every prefix fails. */
static void test_random_valid(void **state)
{
    (void)state;
    for (int iter = 0; iter < 2000; iter++) {
        bl_buf b;
        bl_buf_init(&b);
        size_t nodes = 0;
        gen_value(&b, 0, &nodes);
        assert_false(b.oom);
        expect_ok_lim(b.data, b.len, NULL);
        bl_bdoc d;
        bl_err err;
        assert_int_equal(bl_bdecode(&d, b.data, b.len, NULL, &err), 0);
        assert_int_equal(d.n, nodes);
        bl_bdoc_free(&d);
        if (iter % 20 == 0)
            check_all_prefixes(b.data, b.len);
        bl_buf_free(&b);
    }
}

/* Decode arbitrary bytes: it either decodes (and then round-trips) or fails
 * cleanly with an offset inside the input. */
static void decode_anything(const uint8_t *s, size_t len)
{
    uint8_t *copy = dup_exact(s, len);
    bl_bdoc d;
    bl_err err = {.offset = 0};
    err.offset = (size_t)-1;
    bl_blimits lim = {.max_depth = 8, .max_nodes = 64};
    for (int pass = 0; pass < 2; pass++) {
        int rc = bl_bdecode(&d, copy, len, pass ? &lim : NULL, &err);
        if (rc == 0) {
            check_invariants(&d);
            bl_buf b;
            bl_buf_init(&b);
            reencode(&d, 0, &b);
            assert_int_equal(b.len, len);
            assert_memory_equal(b.data, s, len);
            bl_buf_free(&b);
            bl_bdoc_free(&d);
        } else {
            assert_int_equal(rc, -1);
            assert_true(err.offset <= len);
            check_err_message(&err);
        }
        size_t used;
        rc = bl_bdecode_prefix(&d, copy, len, pass ? &lim : NULL, &used, &err);
        if (rc == 0) {
            assert_true(used > 0 && used <= len);
            check_invariants(&d);
            bl_bdoc_free(&d);
        } else {
            assert_true(err.offset <= len);
        }
    }
    free(copy);
}

static void test_random_bytes(void **state)
{
    (void)state;
    static const char alphabet[] = "ilde0123456789:-e";
    uint8_t buf[96];
    int decoded = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rng_below(sizeof buf + 1);
        bool biased = iter % 4 != 0;
        for (size_t i = 0; i < len; i++)
            buf[i] = biased ? (uint8_t)alphabet[rng_below(sizeof alphabet - 1)] : (uint8_t)rng();
        decode_anything(buf, len);
        bl_bdoc d;
        if (bl_bdecode(&d, buf, len, NULL, NULL) == 0) {
            decoded++;
            bl_bdoc_free(&d);
        }
    }
    /* the biased alphabet should reach the accepting paths sometimes */
    assert_true(decoded > 0);
}

static void test_random_mutations(void **state)
{
    (void)state;
    for (int iter = 0; iter < 3000; iter++) {
        bl_buf b;
        bl_buf_init(&b);
        size_t nodes = 0;
        gen_value(&b, 0, &nodes);
        for (int m = (int)rng_below(3) + 1; m > 0 && b.len > 0; m--) {
            size_t at = rng_below(b.len);
            switch (rng_below(3)) {
            case 0: b.data[at] = (uint8_t)"ilde0129:-x"[rng_below(11)]; break;
            case 1: memmove(b.data + at, b.data + at + 1, b.len - at - 1); b.len--; break;
            default: b.data[at] ^= (uint8_t)(1u << rng_below(8)); break;
            }
        }
        decode_anything(b.data, b.len);
        bl_buf_free(&b);
    }
}

int main(void)
{
    const char *seed = getenv("BL_TEST_SEED");
    if (seed && *seed)
        rng_state = strtoull(seed, NULL, 0) | 1;
    fprintf(stderr, "test_bencode: seed 0x%llx (set BL_TEST_SEED to change)\n",
            (unsigned long long)rng_state);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_lists_and_dicts),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_reject_syntax),
        cmocka_unit_test(test_reject_leading_zeros),
        cmocka_unit_test(test_reject_int64_limits),
        cmocka_unit_test(test_reject_string_lengths),
        cmocka_unit_test(test_reject_dict_keys),
        cmocka_unit_test(test_reject_truncated),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_encoder),
        cmocka_unit_test(test_random_valid),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
