/* Unit tests: description-file builder and parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bencode.h"
#include "meta/create.h"
#include "meta/metainfo.h"

static char tmpdir[64];

static void write_bytes(const char *rel, size_t n, mode_t mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(i * 131 + n);
        assert_int_equal(write(fd, &c, 1), 1);
    }
    close(fd);
    chmod(p, mode);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/bl_test_meta_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char p[256];
    snprintf(p, sizeof p, "%s/lib", tmpdir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/empty", tmpdir);
    mkdir(p, 0700);
    write_bytes("lib/liba.so.1", 40000, 0755);
    write_bytes("lib/one", 1, 0644);
    write_bytes("lib/zero", 0, 0644);
    write_bytes("exact", 16384, 0600);
    snprintf(p, sizeof p, "%s/lib/liba.so", tmpdir);
    assert_int_equal(symlink("liba.so.1", p), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

static void build(bl_metainfo *mi, uint32_t piece)
{
    const char *dirs[] = {tmpdir};
    const char *trackers[] = {"http://a/announce", "udp://b:1/announce"};
    const char *prefetch[] = {"lib/liba.so.1"};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .piece_length = piece, .trackers = trackers,
                        .num_trackers = 2, .mount = "/opt/x", .prefetch = prefetch,
                        .num_prefetch = 1, .threads = 2};
    bl_buf b;
    bl_buf_init(&b);
    bl_err err = {.offset = 0};
    int rc = bl_create(&o, &b, NULL, &err);
    if (rc)
        fail_msg("create: %s", err.msg);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    rc = bl_metainfo_parse(mi, raw, len, &err);
    if (rc)
        fail_msg("parse: %s", err.msg);
}

static void test_roundtrip(void **state)
{
    (void)state;
    bl_metainfo mi;
    build(&mi, 16384);
    assert_true(mi.has_bitlib_meta);
    assert_int_equal(mi.piece_length, 16384);
    assert_string_equal(mi.mount, "/opt/x");
    assert_int_equal(mi.num_tiers, 2);
    assert_string_equal(mi.tiers[1][0], "udp://b:1/announce");
    assert_int_equal(mi.num_prefetch, 1);
    /* every data file starts on a piece boundary */
    uint64_t data = 0;
    for (size_t i = 0; i < mi.num_files; i++) {
        const bl_mfile *f = &mi.files[i];
        if (f->attr & BL_ATTR_PAD)
            continue;
        if (f->length)
            assert_int_equal(f->offset % mi.piece_length, 0);
        if (!(f->attr & BL_ATTR_SYMLINK))
            data += f->length;
    }
    assert_int_equal(data, 40000 + 1 + 16384);
    const bl_mentry *e = bl_metainfo_lookup(&mi, "lib/liba.so.1");
    assert_non_null(e);
    assert_int_equal(e->mode, S_IFREG | 0755);
    assert_int_equal(e->size, 40000);
    assert_true(mi.files[e->file].attr & BL_ATTR_EXEC);
    e = bl_metainfo_lookup(&mi, "lib/liba.so");
    assert_non_null(e);
    assert_true(S_ISLNK(e->mode));
    assert_string_equal(e->target, "liba.so.1");
    e = bl_metainfo_lookup(&mi, "empty");
    assert_non_null(e);
    assert_int_equal(e->mode, S_IFDIR | 0700);
    assert_non_null(bl_metainfo_lookup(&mi, ""));
    assert_null(bl_metainfo_lookup(&mi, "nope"));
    e = bl_metainfo_lookup(&mi, "lib/zero");
    assert_non_null(e);
    assert_int_equal(e->size, 0);
    /* piece geometry: exact (16384 bytes, sorted first) is piece 0 */
    e = bl_metainfo_lookup(&mi, "exact");
    uint32_t a, z;
    bl_metainfo_piece_range(&mi, (size_t)e->file, 0, 16384, &a, &z);
    assert_int_equal(a, 0);
    assert_int_equal(z, 0);
    e = bl_metainfo_lookup(&mi, "lib/liba.so.1");
    bl_metainfo_piece_range(&mi, (size_t)e->file, 16383, 2, &a, &z);
    assert_int_equal(z - a, 1);
    bl_metainfo_piece_range(&mi, (size_t)e->file, 0, 0, &a, &z);
    assert_true(a > z);
    uint64_t sum = 0;
    for (uint32_t p = 0; p < mi.num_pieces; p++)
        sum += bl_metainfo_piece_size(&mi, p);
    assert_int_equal(sum, mi.total_length);
    bl_metainfo_free(&mi);
}

static void test_auto_piece(void **state)
{
    (void)state;
    uint64_t small[] = {1000, 2000};
    assert_int_equal(bl_create_auto_piece_length(small, 2), 16384);
    uint64_t big[] = {1ull << 30};
    assert_int_equal(bl_create_auto_piece_length(big, 1), 65536);
    uint64_t huge[] = {1ull << 40};
    assert_int_equal(bl_create_auto_piece_length(huge, 1), 16u << 20);
}

static void test_create_errors(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_err err = {.offset = 0};
    const char *missing[] = {"/nonexistent/dir"};
    bl_create_opts o = {.dirs = missing, .num_dirs = 1};
    assert_int_equal(bl_create(&o, &b, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/dir"));
    const char *dirs[] = {tmpdir};
    bl_create_opts o2 = {.dirs = dirs, .num_dirs = 1, .piece_length = 3000};
    assert_int_equal(bl_create(&o2, &b, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "power of two"));
    const char *pf[] = {"not/here"};
    bl_create_opts o3 = {.dirs = dirs, .num_dirs = 1, .prefetch = pf, .num_prefetch = 1};
    assert_int_equal(bl_create(&o3, &b, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not/here"));
    bl_create_opts o4 = {.dirs = dirs, .num_dirs = 1, .mount = "relative"};
    assert_int_equal(bl_create(&o4, &b, NULL, &err), -1);
    const char *two[] = {tmpdir, tmpdir};
    bl_create_opts o5 = {.dirs = two, .num_dirs = 2, .name = "x"};
    assert_int_equal(bl_create(&o5, &b, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "also named"));
    bl_buf_free(&b);
}

/* Parse hand-made bencode; expect failure mentioning `needle`. */
static void expect_bad(const char *text, const char *needle)
{
    size_t n = strlen(text);
    uint8_t *raw = malloc(n);
    memcpy(raw, text, n);
    bl_metainfo mi;
    bl_err err = {.offset = 0};
    if (bl_metainfo_parse(&mi, raw, n, &err) == 0) {
        bl_metainfo_free(&mi);
        fail_msg("accepted: %s", text);
    }
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

#define H20 "aaaaaaaaaaaaaaaaaaaa"

static void test_parse_errors(void **state)
{
    (void)state;
    expect_bad("le", "not a dictionary");
    expect_bad("de", "no 'info'");
    expect_bad("d4:infod4:name1:x12:piece lengthi16384e6:pieces20:" H20 "ee", "exactly one");
    expect_bad("d4:infod6:lengthi5e4:name2:..12:piece lengthi16384e6:pieces20:" H20 "ee",
               "info.name");
    expect_bad("d4:infod6:lengthi5e4:name1:x12:piece lengthi0e6:pieces20:" H20 "ee",
               "piece length");
    expect_bad("d4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces3:abcee", "pieces");
    expect_bad("d4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces0:ee", "expected 1");
    expect_bad("d4:infod6:lengthi-5e4:name1:x12:piece lengthi16384e6:pieces0:ee", "length");
    expect_bad("d4:infod5:filesld6:lengthi1e4:pathl2:..eee4:name1:x12:piece lengthi16384e"
               "6:pieces20:" H20 "ee", "path");
    expect_bad("d4:infod5:filesld6:lengthi1e4:pathl0:eee4:name1:x12:piece lengthi16384e"
               "6:pieces20:" H20 "ee", "path");
    expect_bad("d4:infod5:filesld6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl1:aeee4:name1:x"
               "12:piece lengthi16384e6:pieces20:" H20 "ee", "duplicate");
    expect_bad("d4:infod5:filesld6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl1:a1:beee4:name1:x"
               "12:piece lengthi16384e6:pieces20:" H20 "ee", "parent");
    expect_bad("d4:infod5:filesle4:name1:x12:piece lengthi16384e6:pieces0:ee", "non-empty");
    expect_bad("d4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:" H20
               "7:privatei7eee", "private");
    expect_bad("d4:infod6:bitlibd7:versioni9ee5:filesld6:lengthi1e4:pathl1:aeee4:name1:x"
               "12:piece lengthi16384e6:pieces20:" H20 "ee", "version");
    /* non-canonical bencode is refused before anything else */
    expect_bad("d4:infod4:name1:x6:lengthi5eee", "sorted");
    expect_bad("d4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:" H20 "eeX",
               "trailing");
}

static void test_parse_stock_single(void **state)
{
    (void)state;
    const char *t = "d8:announce9:http://t/4:infod6:lengthi20000e4:name5:a.bin"
                    "12:piece lengthi16384e6:pieces40:" H20 H20 "ee";
    size_t n = strlen(t);
    uint8_t *raw = malloc(n);
    memcpy(raw, t, n);
    bl_metainfo mi;
    bl_err err = {.offset = 0};
    assert_int_equal(bl_metainfo_parse(&mi, raw, n, &err), 0);
    assert_true(mi.single_file);
    assert_false(mi.has_bitlib_meta);
    assert_int_equal(mi.num_pieces, 2);
    assert_int_equal(bl_metainfo_piece_size(&mi, 1), 20000 - 16384);
    const bl_mentry *e = bl_metainfo_lookup(&mi, "a.bin");
    assert_non_null(e);
    assert_int_equal(e->mode, S_IFREG | 0444);
    assert_string_equal(mi.tiers[0][0], "http://t/");
    bl_metainfo_free(&mi);
}

/* A stock multi-file torrent of empty files and symlinks (no info.bitlib):
 * links[i] is "PATH=COMPONENT,COMPONENT..." (its BEP 47 "symlink path"). */
static int parse_links(bl_metainfo *mi, const char *const *links, size_t n, bl_err *err)
{
    static const char *const plain[] = {"f", "lib/f", "lib/f2", "sub/x"};
    bl_buf b;
    bl_buf_init(&b);
    bl_benc_dict(&b);
    bl_benc_cstr(&b, "info");
    bl_benc_dict(&b);
    bl_benc_cstr(&b, "files");
    bl_benc_list(&b);
    for (size_t i = 0; i < 4 + n; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "%s", i < 4 ? plain[i] : links[i - 4]);
        char *eq = strchr(spec, '=');
        if (eq)
            *eq = '\0';
        bl_benc_dict(&b);
        if (eq) {
            bl_benc_cstr(&b, "attr");
            bl_benc_cstr(&b, "l");
        }
        bl_benc_cstr(&b, "length");
        bl_benc_int(&b, !strcmp(spec, "lib/f2"));
        bl_benc_cstr(&b, "path");
        bl_benc_list(&b);
        for (char *c = strtok(spec, "/"); c; c = strtok(NULL, "/"))
            bl_benc_cstr(&b, c);
        bl_benc_end(&b);
        if (eq) {
            bl_benc_cstr(&b, "symlink path");
            bl_benc_list(&b);
            for (char *c = strtok(eq + 1, ","); c; c = strtok(NULL, ","))
                bl_benc_cstr(&b, c);
            bl_benc_end(&b);
        }
        bl_benc_end(&b);
    }
    bl_benc_end(&b);
    bl_benc_cstr(&b, "name");
    bl_benc_cstr(&b, "set");
    bl_benc_cstr(&b, "piece length");
    bl_benc_int(&b, 16384);
    bl_benc_cstr(&b, "pieces");
    bl_benc_cstr(&b, H20);
    bl_benc_end(&b);
    bl_benc_end(&b);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    return bl_metainfo_parse(mi, raw, len, err);
}

static void expect_link(const bl_metainfo *mi, const char *path, const char *target)
{
    const bl_mentry *e = bl_metainfo_lookup(mi, path);
    assert_non_null(e);
    assert_true(S_ISLNK(e->mode));
    assert_string_equal(e->target, target);
    assert_int_equal(e->size, strlen(target));
}

/* BEP 47 says "symlink path" is relative to the torrent's root; libtorrent
 * writes it relative to the link's directory.  Either is accepted when the
 * target resolves inside the set only one way; otherwise the BEP's reading
 * holds. */
static void test_symlink_paths(void **state)
{
    (void)state;
    static const char *const links[] = {
        "lib/l1=f2",        /* libtorrent, same directory: lib/f2 */
        "bin/l2=..,lib,f2", /* libtorrent, another directory: lib/f2 */
        "bin/l3=lib,f2",    /* BEP 47, from the root: lib/f2 */
        "lib/l4=f",         /* f and lib/f both exist: the BEP's reading, f */
        "lib/l5=nothere",   /* neither: the BEP's reading (dangling) */
        "lib/l6=..,sub",    /* libtorrent, a directory */
        "l7=.,lib,.,f2",    /* dots on the way */
    };
    bl_metainfo mi;
    bl_err err = {.offset = 0};
    if (parse_links(&mi, links, sizeof links / sizeof links[0], &err) < 0)
        fail_msg("%s", err.msg);
    expect_link(&mi, "lib/l1", "f2");
    expect_link(&mi, "bin/l2", "../lib/f2");
    expect_link(&mi, "bin/l3", "../lib/f2");
    expect_link(&mi, "lib/l4", "../f");
    expect_link(&mi, "lib/l5", "../nothere");
    expect_link(&mi, "lib/l6", "../sub");
    expect_link(&mi, "l7", "lib/f2");
    bl_metainfo_free(&mi);

    /* climbing out of the set both ways is refused */
    static const char *const out[] = {"lib/l=..,..,etc,passwd"};
    assert_int_equal(parse_links(&mi, out, 1, &err), -1);
    assert_non_null(strstr(err.msg, "leaves the set"));
    /* ".." in a file's own path still is */
    static const char *const dots[] = {"lib/../l=f"};
    assert_int_equal(parse_links(&mi, dots, 1, &err), -1);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(bl_utf8_valid("abc", 3));
    assert_true(bl_utf8_valid("\xc3\xa9", 2));
    assert_true(bl_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(bl_utf8_valid("\xc3", 1));
    assert_false(bl_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(bl_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(bl_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(bl_utf8_valid("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test(test_auto_piece),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_stock_single),
        cmocka_unit_test(test_symlink_paths),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
