/* Unit tests for the mount's file index (src/fs/fsindex.c): inode mapping,
 * per-directory child index, path resolution through symlinks, mode->attr,
 * piece ranges.  The description is built with bitlib's own create from a
 * real temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "fs/fsindex.h"
#include "meta/create.h"
#include "meta/metainfo.h"

static char root[256];

static void put(const char *rel, size_t len, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc((int)(i * 7 + len) & 0xff, f);
    fclose(f);
    chmod(p, mode);
}

static void dir(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void lnk(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

typedef struct fx {
    bl_metainfo mi;
    bl_fsindex ix;
} fx;

/* The tree:
 *   a/            (dir)   a/x.so 5000 B 0755, a/sub/ (dir), a/sub/deep 10 B
 *   a-b           10 B    (sorts before "a/..." as a path but after "a" as a name)
 *   a.b           0 B     (empty file)
 *   ab/           (dir, empty)
 *   lib/          libz.so.1.2 70000 B, libz.so.1 -> libz.so.1.2, libz.so -> libz.so.1
 *                 up -> ../a/x.so, abs -> /opt/set/a/x.so, out -> ../../etc/passwd,
 *                 loop1 -> loop2, loop2 -> loop1, dirlink -> ../a */
static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/test_fsindex.%d", (int)getpid());
    assert_int_equal(mkdir(root, 0755), 0);
    dir("a");
    dir("a/sub");
    dir("ab");
    dir("lib");
    put("a/x.so", 5000, 0755);
    put("a/sub/deep", 10, 0644);
    put("a-b", 10, 0644);
    put("a.b", 0, 0644);
    put("lib/libz.so.1.2", 70000, 0755);
    lnk("libz.so.1.2", "lib/libz.so.1");
    lnk("libz.so.1", "lib/libz.so");
    lnk("../a/x.so", "lib/up");
    lnk("/opt/set/a/x.so", "lib/abs");
    lnk("../../etc/passwd", "lib/out");
    lnk("loop2", "lib/loop1");
    lnk("loop1", "lib/loop2");
    lnk("../a", "lib/dirlink");
    fx *f = calloc(1, sizeof *f);
    const char *dirs[] = {root};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .name = "set", .piece_length = 16384,
                        .mount = "/opt/set", .threads = 1};
    bl_buf out;
    bl_buf_init(&out);
    bl_err err;
    assert_int_equal(bl_create(&o, &out, NULL, &err), 0);
    size_t len;
    uint8_t *raw = bl_buf_steal(&out, &len);
    if (bl_metainfo_parse(&f->mi, raw, len, &err) < 0)
        fail_msg("parse: %s", err.msg);
    if (bl_fsindex_build(&f->ix, &f->mi, &err) < 0)
        fail_msg("index: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    bl_fsindex_free(&f->ix);
    bl_metainfo_free(&f->mi);
    free(f);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static size_t entry_named(const fx *f, const char *path)
{
    const bl_mentry *e = bl_metainfo_lookup(&f->mi, path);
    assert_non_null(e);
    return (size_t)(e - f->mi.entries);
}

static size_t look(const fx *f, size_t d, const char *name)
{
    return bl_fsindex_lookup(&f->ix, d, name, strlen(name));
}

static void test_inodes(void **state)
{
    fx *f = *state;
    assert_int_equal(bl_fsindex_ino(0), 1); /* root = FUSE_ROOT_ID */
    assert_int_equal(bl_fsindex_entry(&f->ix, 1), 0);
    assert_int_equal(bl_fsindex_entry(&f->ix, 0), BL_FS_NO_ENTRY);
    assert_int_equal(bl_fsindex_entry(&f->ix, f->mi.num_entries + 1), BL_FS_NO_ENTRY);
    for (size_t i = 0; i < f->mi.num_entries; i++)
        assert_int_equal(bl_fsindex_entry(&f->ix, bl_fsindex_ino(i)), i);
}

static void test_lookup(void **state)
{
    fx *f = *state;
    size_t a = look(f, 0, "a");
    assert_int_equal(a, entry_named(f, "a"));
    assert_int_equal(look(f, 0, "a-b"), entry_named(f, "a-b"));
    assert_int_equal(look(f, 0, "a.b"), entry_named(f, "a.b"));
    assert_int_equal(look(f, 0, "ab"), entry_named(f, "ab"));
    assert_int_equal(look(f, a, "x.so"), entry_named(f, "a/x.so"));
    assert_int_equal(look(f, a, "sub"), entry_named(f, "a/sub"));
    assert_int_equal(look(f, look(f, a, "sub"), "deep"), entry_named(f, "a/sub/deep"));
    /* misses, prefixes of names, names with a prefix that exists */
    assert_int_equal(look(f, 0, "nope"), BL_FS_NO_ENTRY);
    assert_int_equal(look(f, 0, "a-"), BL_FS_NO_ENTRY);
    assert_int_equal(look(f, 0, "abc"), BL_FS_NO_ENTRY);
    assert_int_equal(look(f, 0, ""), BL_FS_NO_ENTRY);
    assert_int_equal(look(f, a, "x.s"), BL_FS_NO_ENTRY);
    /* a name given with a length (FUSE passes NUL-terminated, but be exact) */
    assert_int_equal(bl_fsindex_lookup(&f->ix, 0, "a-bcdef", 3), entry_named(f, "a-b"));
    /* . and .. */
    assert_int_equal(look(f, a, "."), a);
    assert_int_equal(look(f, a, ".."), 0);
    assert_int_equal(look(f, 0, ".."), 0);
    /* lookups in a file are misses */
    assert_int_equal(look(f, entry_named(f, "a-b"), "x"), BL_FS_NO_ENTRY);
}

static void test_children_sorted(void **state)
{
    fx *f = *state;
    /* every entry appears exactly once as a child of its parent, names ascend */
    size_t seen = 0;
    for (size_t d = 0; d < f->mi.num_entries; d++) {
        if (!S_ISDIR(f->mi.entries[d].mode)) {
            assert_int_equal(f->ix.child_count[d], 0);
            continue;
        }
        const size_t *c = f->ix.children + f->ix.child_start[d];
        for (size_t k = 0; k < f->ix.child_count[d]; k++) {
            assert_int_equal(f->ix.parent[c[k]], d);
            if (k)
                assert_true(strcmp(f->ix.name[c[k - 1]], f->ix.name[c[k]]) < 0);
            seen++;
        }
    }
    assert_int_equal(seen, f->mi.num_entries - 1);
    assert_int_equal(f->ix.child_count[entry_named(f, "ab")], 0);
    assert_int_equal(f->ix.child_count[0], 5); /* a a-b a.b ab lib */
    const size_t *rc = f->ix.children + f->ix.child_start[0];
    assert_string_equal(f->ix.name[rc[0]], "a");
    assert_string_equal(f->ix.name[rc[1]], "a-b");
    assert_string_equal(f->ix.name[rc[2]], "a.b");
    assert_string_equal(f->ix.name[rc[3]], "ab");
}

static void test_resolve(void **state)
{
    fx *f = *state;
    size_t real = entry_named(f, "lib/libz.so.1.2"), x = entry_named(f, "a/x.so");
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/libz.so", true), real);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "/lib/libz.so.1", true), real);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/libz.so", false),
                     entry_named(f, "lib/libz.so"));
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/up", true), x);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/abs", true), x);   /* under mount */
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/dirlink/x.so", true), x);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/dirlink/sub/../x.so", true), x);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "a//./sub/deep", true),
                     entry_named(f, "a/sub/deep"));
    assert_int_equal(bl_fsindex_resolve(&f->ix, "", true), 0);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "/", true), 0);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "a/", true), entry_named(f, "a"));
    /* leaving the set, loops, misses, files used as directories */
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/out", true), BL_FS_NO_ENTRY);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/out", false), entry_named(f, "lib/out"));
    assert_int_equal(bl_fsindex_resolve(&f->ix, "..", true), BL_FS_NO_ENTRY);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "a/../../a", true), BL_FS_NO_ENTRY);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/loop1", true), BL_FS_NO_ENTRY);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "lib/missing", true), BL_FS_NO_ENTRY);
    assert_int_equal(bl_fsindex_resolve(&f->ix, "a-b/x", true), BL_FS_NO_ENTRY);
}

static void test_stat(void **state)
{
    fx *f = *state;
    struct stat st;
    size_t x = entry_named(f, "a/x.so");
    bl_fsindex_stat(&f->ix, x, 12, 34, &st);
    assert_int_equal(st.st_ino, bl_fsindex_ino(x));
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0755);
    assert_int_equal(st.st_size, 5000);
    assert_int_equal(st.st_blocks, (5000 + 511) / 512);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_uid, 12);
    assert_int_equal(st.st_gid, 34);
    assert_int_equal(st.st_mtim.tv_sec, f->mi.entries[x].mtime);
    assert_int_equal(st.st_ctim.tv_sec, f->mi.entries[x].mtime);
    bl_fsindex_stat(&f->ix, entry_named(f, "a/sub/deep"), 0, 0, &st);
    assert_int_equal(st.st_mode & 0777, 0644);
    bl_fsindex_stat(&f->ix, 0, 0, 0, &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_nlink, 2 + 3); /* a, ab, lib */
    bl_fsindex_stat(&f->ix, entry_named(f, "a"), 0, 0, &st);
    assert_int_equal(st.st_nlink, 3);
    bl_fsindex_stat(&f->ix, entry_named(f, "lib/libz.so"), 0, 0, &st);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_size, strlen("libz.so.1"));
}

static void test_pieces(void **state)
{
    fx *f = *state;
    uint32_t a, b;
    size_t z = entry_named(f, "lib/libz.so.1.2");
    assert_true(bl_fsindex_pieces(&f->ix, z, &a, &b));
    assert_int_equal(b - a + 1, (70000 + 16383) / 16384); /* padded: starts on a boundary */
    const bl_mfile *mf = &f->mi.files[f->mi.entries[z].file];
    assert_int_equal(a, mf->offset / 16384);
    assert_false(bl_fsindex_pieces(&f->ix, entry_named(f, "a.b"), &a, &b)); /* empty */
    assert_false(bl_fsindex_pieces(&f->ix, entry_named(f, "a"), &a, &b));
    assert_false(bl_fsindex_pieces(&f->ix, entry_named(f, "lib/libz.so"), &a, &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inodes),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_children_sorted),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_stat),
        cmocka_unit_test(test_pieces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
