/* Unit tests for the tree without FUSE (src/fs/tree.c) and its index and
 * reply parsing (src/fs/treeidx.c): a node over a warm or partial cache
 * materialises exactly its complete files, with the description's modes,
 * mtimes and symlinks, removes a stale tree, writes an index that
 * treeidx parses and classifies as the set's names; bad indexes and replies
 * are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/evloop.h"
#include "fs/node.h"
#include "fs/tree.h"
#include "fs/treeidx.h"
#include "meta/create.h"
#include "meta/metainfo.h"

static char base[256], setdir[300], cache[300];

static void put(const char *dir, const char *rel, size_t len, mode_t mode, time_t mtime)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc((int)(i * 13 + len) & 0xff, f);
    fclose(f);
    chmod(p, mode);
    struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    utimensat(AT_FDCWD, p, ts, 0);
}

static void mk(const char *dir, const char *rel, mode_t mode)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    assert_int_equal(mkdir(p, mode), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_DP)
        chmod(p, 0700);
    (void)st;
    return remove(p);
}

static int open_up(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D)
        chmod(p, (st->st_mode & 07777) | 0700);
    return 0;
}

static void rm_rf(const char *p)
{
    nftw(p, open_up, 16, FTW_PHYS);
    nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bl_metainfo mi;

/* The set: bin/app (0755, 40000 B: several pieces), lib/libx.so.1 (0644, 20000 B),
 * lib/libx.so -> libx.so.1, lib/empty (0 B), share/ (dir 0555, empty), doc/a (0600). */
static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "/tmp/test_tree.%d", (int)getpid());
    snprintf(setdir, sizeof setdir, "%s/set", base);
    snprintf(cache, sizeof cache, "%s/cache", base);
    assert_int_equal(mkdir(base, 0700), 0);
    assert_int_equal(mkdir(setdir, 0755), 0);
    mk(setdir, "bin", 0755);
    mk(setdir, "lib", 0755);
    mk(setdir, "doc", 0750);
    put(setdir, "bin/app", 40000, 0755, 1000000000);
    put(setdir, "lib/libx.so.1", 20000, 0644, 1100000000);
    put(setdir, "lib/empty", 0, 0644, 1200000000);
    put(setdir, "doc/a", 100, 0600, 1300000000);
    char p[600];
    snprintf(p, sizeof p, "%s/lib/libx.so", setdir);
    assert_int_equal(symlink("libx.so.1", p), 0);
    mk(setdir, "share", 0555);
    const char *dirs[] = {setdir};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .name = "set", .piece_length = 16384,
                        .mount = "/opt/tset", .threads = 1};
    bl_buf out;
    bl_buf_init(&out);
    bl_err err;
    assert_int_equal(bl_create(&o, &out, NULL, &err), 0);
    size_t len;
    uint8_t *raw = bl_buf_steal(&out, &len);
    if (bl_metainfo_parse(&mi, raw, len, &err) < 0)
        fail_msg("parse: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bl_metainfo_free(&mi);
    rm_rf(base);
    return 0;
}

/* A cache holding copies of the named set files (NULL-terminated). */
static void make_cache(const char *const *files)
{
    rm_rf(cache);
    assert_int_equal(mkdir(cache, 0700), 0);
    char cmd[2048];
    for (size_t i = 0; files[i]; i++) {
        snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s/%s')\" && cp '%s/%s' '%s/%s'", cache,
                 files[i], setdir, files[i], cache, files[i]);
        assert_int_equal(system(cmd), 0);
    }
}

typedef struct run {
    bl_loop *loop;
    bl_node *node;
    bl_tree *tree;
    char dir[600];
} run;

static void start(run *r, enum bl_fs_mode mode)
{
    bl_err err;
    memset(r, 0, sizeof *r);
    r->loop = bl_loop_new(&err);
    assert_non_null(r->loop);
    snprintf(r->dir, sizeof r->dir, "%s/%s", cache, BL_TREE_DIR);
    bl_node_config nc = {.mi = &mi, .cache_dir = cache, .mode = mode, .read_timeout_ms = 1000,
                         .tree_dir = r->dir};
    r->node = bl_node_new(r->loop, &nc, &err);
    if (!r->node)
        fail_msg("node: %s", err.msg);
    r->tree = bl_tree_new(r->node, &err);
    assert_non_null(r->tree);
    if (bl_node_start(r->node, &err) < 0 || bl_tree_start(r->tree, &err) < 0)
        fail_msg("start: %s", err.msg);
}

static void stop(run *r)
{
    bl_tree_free(r->tree);
    bl_node_stop(r->node);
    bl_node_free(r->node);
    bl_loop_free(r->loop);
}

static void expect_file(const char *rel, mode_t mode, time_t mtime)
{
    char p[700], q[700], cmd[1500];
    snprintf(p, sizeof p, "%s/%s/%s", cache, BL_TREE_DIR, rel);
    snprintf(q, sizeof q, "%s/%s", setdir, rel);
    struct stat st;
    if (lstat(p, &st) < 0)
        fail_msg("%s is not in the tree", rel);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
    assert_int_equal(st.st_mtime, mtime);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", p, q);
    assert_int_equal(system(cmd), 0);
}

static bool in_tree(const char *rel)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s/%s", cache, BL_TREE_DIR, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static size_t entry_of(const char *path)
{
    const bl_mentry *e = bl_metainfo_lookup(&mi, path);
    assert_non_null(e);
    return (size_t)(e - mi.entries);
}

static void test_warm_cache_complete_tree(void **state)
{
    (void)state;
    const char *all[] = {"bin/app", "lib/libx.so.1", "doc/a", NULL};
    make_cache(all);
    /* a stale tree from an earlier daemon, read-only, with a file the set lacks */
    char p[700];
    snprintf(p, sizeof p, "%s/%s", cache, BL_TREE_DIR);
    assert_int_equal(mkdir(p, 0700), 0);
    put(p, "junk", 10, 0644, 1);
    chmod(p, 0500);
    run r;
    start(&r, BL_FS_FILE);
    assert_false(in_tree("junk"));
    expect_file("bin/app", 0755, 1000000000);
    expect_file("lib/libx.so.1", 0644, 1100000000);
    expect_file("lib/empty", 0644, 1200000000);
    expect_file("doc/a", 0600, 1300000000);
    char t[64];
    snprintf(p, sizeof p, "%s/%s/lib/libx.so", cache, BL_TREE_DIR);
    ssize_t n = readlink(p, t, sizeof t - 1);
    assert_true(n > 0);
    t[n] = 0;
    assert_string_equal(t, "libx.so.1");
    /* complete: directories have exactly the description's modes */
    struct stat st;
    snprintf(p, sizeof p, "%s/%s/share", cache, BL_TREE_DIR);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0555);
    snprintf(p, sizeof p, "%s/%s/doc", cache, BL_TREE_DIR);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(bl_tree_files_done(r.tree), bl_tree_files_total(r.tree));
    assert_int_equal(bl_tree_files_total(r.tree), 4);
    stop(&r);
}

static void test_partial_cache(void **state)
{
    (void)state;
    const char *some[] = {"lib/libx.so.1", NULL};
    make_cache(some);
    run r;
    start(&r, BL_FS_FILE);
    expect_file("lib/libx.so.1", 0644, 1100000000);
    expect_file("lib/empty", 0644, 1200000000); /* no data: there at once */
    assert_false(in_tree("bin/app"));
    assert_false(in_tree("doc/a"));
    assert_true(in_tree("lib/libx.so")); /* symlinks are there from the start */
    assert_true(in_tree("share"));
    bl_err err;
    assert_int_equal(bl_tree_materialise(r.tree, entry_of("bin/app"), &err), 0);
    assert_false(in_tree("bin/app"));
    assert_int_equal(bl_tree_materialise(r.tree, entry_of("lib/libx.so.1"), &err), 1);
    /* incomplete: directories stay writable for the daemon, mtimes are the set's */
    struct stat st, want;
    char p[700], q[700];
    snprintf(p, sizeof p, "%s/%s/share", cache, BL_TREE_DIR);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    snprintf(p, sizeof p, "%s/%s/lib", cache, BL_TREE_DIR);
    snprintf(q, sizeof q, "%s/lib", setdir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(stat(q, &want), 0);
    assert_int_equal(st.st_mtime, want.st_mtime);
    bl_buf b;
    bl_buf_init(&b);
    bl_tree_path(r.tree, entry_of("bin/app"), &b);
    snprintf(p, sizeof p, "%s/%s/bin/app", cache, BL_TREE_DIR);
    assert_string_equal((const char *)b.data, p);
    bl_buf_free(&b);
    stop(&r);
}

static void test_index_roundtrip(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_tree_index_text(&mi, &b);
    assert_false(b.oom);
    bl_treeidx ix;
    assert_int_equal(bl_treeidx_parse(&ix, (const char *)b.data, b.len), 0);
    assert_int_equal(bl_treeidx_type(&ix, "bin", 3), 'd');
    assert_int_equal(bl_treeidx_type(&ix, "bin/app", 7), 'f');
    assert_int_equal(bl_treeidx_type(&ix, "lib/libx.so", 11), 'l');
    assert_int_equal(bl_treeidx_type(&ix, "lib/libx.so.2", 13), 0);
    assert_int_equal(bl_treeidx_type(&ix, "", 0), 0);
    char norm[64];
    assert_int_equal(bl_treeidx_classify(&ix, "/bin/app", norm, sizeof norm), BL_TREEIDX_FILE);
    assert_string_equal(norm, "bin/app");
    assert_int_equal(bl_treeidx_classify(&ix, "/bin/../lib/./libx.so.1", norm, sizeof norm),
                     BL_TREEIDX_FILE);
    assert_string_equal(norm, "lib/libx.so.1");
    assert_int_equal(bl_treeidx_classify(&ix, "//lib//empty", norm, sizeof norm), BL_TREEIDX_FILE);
    assert_string_equal(norm, "lib/empty");
    assert_int_equal(bl_treeidx_classify(&ix, "/lib/libx.so", norm, sizeof norm), BL_TREEIDX_ASK);
    assert_int_equal(bl_treeidx_classify(&ix, "/lib/libc.so.6", norm, sizeof norm),
                     BL_TREEIDX_MISS);
    assert_int_equal(bl_treeidx_classify(&ix, "/glibc-hwcaps/x86-64-v3/libx.so.1", norm,
                                         sizeof norm), BL_TREEIDX_MISS);
    assert_int_equal(bl_treeidx_classify(&ix, "/lib", norm, sizeof norm), BL_TREEIDX_MISS);
    assert_int_equal(bl_treeidx_classify(&ix, "/bin/app/x", norm, sizeof norm), BL_TREEIDX_MISS);
    assert_int_equal(bl_treeidx_classify(&ix, "/../bin/app", norm, sizeof norm), BL_TREEIDX_MISS);
    assert_int_equal(bl_treeidx_classify(&ix, "/bin/app", norm, 4), BL_TREEIDX_MISS);
    bl_treeidx_free(&ix);
    bl_buf_free(&b);
}

static void test_index_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "bitlib-tree-index 2\n", "bitlib-tree-index 1\nf a", /* no final newline */
        "bitlib-tree-index 1\nx a\n", "bitlib-tree-index 1\nf \n", "bitlib-tree-index 1\nfa\n",
        "bitlib-tree-index 1\nf b\nf a\n",       /* unsorted */
        "bitlib-tree-index 1\nf a\nd a\n",       /* repeated */
        "bitlib-tree-index 1\nf a/\n", "bitlib-tree-index 1\nf a//b\n", "bitlib-tree-index 1\nf ./a\n",
        "bitlib-tree-index 1\nf a/..\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bl_treeidx ix;
        assert_int_equal(bl_treeidx_parse(&ix, bad[i], strlen(bad[i])), -1);
    }
    bl_treeidx ix;
    const char *empty = "bitlib-tree-index 1\n";
    assert_int_equal(bl_treeidx_parse(&ix, empty, strlen(empty)), 0);
    char norm[16];
    assert_int_equal(bl_treeidx_classify(&ix, "/a", norm, sizeof norm), BL_TREEIDX_MISS);
    bl_treeidx_free(&ix);
}

static void test_reply(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(bl_treeidx_reply("{\"ok\":true,\"path\":\"a\",\"cache\":\"/c/a\","
                                      "\"tree\":\"/t/a\\\"b\\\\c\\u0041\",\"waited_ms\":0}",
                                      "tree", out, sizeof out), 1);
    assert_string_equal(out, "/t/a\"b\\cA");
    assert_int_equal(bl_treeidx_reply("{\"ok\":false,\"error\":\"no such file in the set\"}",
                                      "tree", out, sizeof out), 0);
    assert_string_equal(out, "no such file in the set");
    /* a key inside a value is not the key */
    assert_int_equal(bl_treeidx_reply("{\"ok\":true,\"path\":\"x\\\",\\\"tree\\\":\\\"/evil\"}",
                                      "tree", out, sizeof out), -1);
    assert_int_equal(bl_treeidx_reply("{\"ok\":true,\"tree\":\"/t\\u00e9\"}", "tree", out,
                                      sizeof out), -1);
    assert_int_equal(bl_treeidx_reply("{\"ok\":true,\"tree\":\"/unterminated", "tree", out,
                                      sizeof out), -1);
    assert_int_equal(bl_treeidx_reply("{\"ok\":true,\"tree\":\"/a/long/path\"}", "tree", out, 5),
                     -1);
    assert_int_equal(bl_treeidx_reply("{\"ok\":maybe}", "tree", out, sizeof out), -1);
    assert_int_equal(bl_treeidx_reply("garbage", "tree", out, sizeof out), -1);
}

static void test_checks(void **state)
{
    (void)state;
    bl_err err;
    assert_int_equal(bl_tree_check(&mi, &err), 0);
    char out[64];
    assert_int_equal(bl_tree_canonical_mount("/nonexistent-dir-x/y//z/./", out, sizeof out, &err),
                     0);
    assert_string_equal(out, "/nonexistent-dir-x/y/z");
    assert_int_equal(bl_tree_canonical_mount("/nonexistent-dir-x/../y", out, sizeof out, &err), -1);
    assert_int_equal(bl_tree_canonical_mount("/tmp/x", out, sizeof out, &err), 0);
    assert_int_equal(bl_tree_canonical_mount("/nonexistent-dir-x/y", out, 8, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warm_cache_complete_tree),
        cmocka_unit_test(test_partial_cache),
        cmocka_unit_test(test_index_roundtrip),
        cmocka_unit_test(test_index_refused),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
