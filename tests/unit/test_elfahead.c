/* Unit tests for fs/elfahead: an opened ELF object brings its closure in the
 * set, by ld.so's search rules, and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "fs/elfahead.h"
#include "meta/create.h"
#include "meta/metainfo.h"

#include "elf_writer.h"

static char dir[PATH_MAX];
static bl_metainfo mi;
static bl_fsindex ix;

static void put_obj(const char *rel, const spec *s)
{
    uint8_t img[4096];
    size_t n = build_elf(s, img);
    char p[PATH_MAX + 64], cmd[2 * PATH_MAX];
    snprintf(p, sizeof p, "%s/set/%s", dir, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", p);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(img, 1, n, f), n);
    fclose(f);
}

/* The set:
 *   bin/app             RPATH $ORIGIN/../lib; needs libA.so, libc.so.6 (not in the set)
 *   lib/libA.so         -> libA.so.1 (symlink); RUNPATH $ORIGIN/a; needs libB.so
 *   lib/a/libB.so       no paths: app's RPATH is inherited (A's RUNPATH is not); needs libC.so
 *   lib/libC.so         needs libD.so, found only through the set's LD_LIBRARY_PATH (ldp)
 *   lib/a/libC.so       a decoy only A's RUNPATH would find: never taken for B
 *   ldp/libD.so         needs libA.so again (already tracked)
 *   lib/libunused.so    needed by nothing
 *   share/readme        not ELF */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bl_elfahead_XXXXXX");
    assert_non_null(mkdtemp(dir));
    spec app = {.is64 = true, .machine = 62, .needed = {"libA.so", "libc.so.6"},
                .rpath = "$ORIGIN/../lib"};
    spec a = {.is64 = true, .machine = 62, .needed = {"libB.so"}, .runpath = "$ORIGIN/a"};
    spec b = {.is64 = true, .machine = 62, .needed = {"libC.so"}};
    spec c = {.is64 = true, .machine = 62, .needed = {"libD.so"}};
    spec decoy = {.is64 = true, .machine = 62};
    spec d = {.is64 = true, .machine = 62, .needed = {"libA.so"}};
    put_obj("bin/app", &app);
    put_obj("lib/libA.so.1", &a);
    put_obj("lib/a/libB.so", &b);
    put_obj("lib/libC.so", &c);
    put_obj("lib/a/libC.so", &decoy);
    put_obj("ldp/libD.so", &d);
    put_obj("lib/libunused.so", &decoy);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/set/lib/libA.so", dir);
    assert_int_equal(symlink("libA.so.1", p), 0);
    snprintf(p, sizeof p, "%s/set/share", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/set/share/readme", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("not an ELF object\n", f);
    fclose(f);

    char setdir[PATH_MAX + 8];
    snprintf(setdir, sizeof setdir, "%s/set", dir);
    const char *dirs[] = {setdir};
    char *ldp_dirs[] = {"ldp"};
    bl_menv env[] = {{.name = "LD_LIBRARY_PATH", .dirs = ldp_dirs, .num_dirs = 1}};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .name = "set", .piece_length = 16384,
                        .mount = "/opt/eset", .env = env, .num_env = 1, .threads = 1};
    bl_buf out;
    bl_buf_init(&out);
    bl_err err;
    assert_int_equal(bl_create(&o, &out, NULL, &err), 0);
    size_t len;
    uint8_t *raw = bl_buf_steal(&out, &len);
    if (bl_metainfo_parse(&mi, raw, len, &err) < 0)
        fail_msg("parse: %s", err.msg);
    assert_int_equal(bl_fsindex_build(&ix, &mi, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bl_fsindex_free(&ix);
    bl_metainfo_free(&mi);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static size_t entry(const char *path)
{
    size_t e = bl_fsindex_resolve(&ix, path, false);
    assert_true(e != BL_FS_NO_ENTRY);
    return e;
}

/* Examine entry e from the set's bytes on disk; its deps, as paths, joined
 * by spaces into out. */
static size_t examine(bl_elfahead *a, size_t e, char *out, size_t outlen)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/set/%s", dir, mi.entries[e].path);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    uint8_t img[8192];
    size_t n = fread(img, 1, sizeof img, f);
    fclose(f);
    size_t deps[16];
    size_t nd = bl_elfahead_examine(a, e, img, n, deps, 16);
    out[0] = 0;
    for (size_t i = 0; i < nd; i++) {
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "%s%s", l ? " " : "", mi.entries[deps[i]].path);
    }
    return nd;
}

static void test_closure_in_load_order(void **state)
{
    (void)state;
    bl_err err;
    bl_elfahead *a = bl_elfahead_new(&mi, &ix, &err);
    assert_non_null(a);
    char got[512];
    size_t app = entry("bin/app");
    assert_true(bl_elfahead_track(a, app));
    assert_false(bl_elfahead_track(a, app)); /* once */
    assert_true(bl_elfahead_pending(a, app));
    /* libA.so through app's RPATH, as its symlink's target; libc is not in the set */
    assert_int_equal(examine(a, app, got, sizeof got), 1);
    assert_string_equal(got, "lib/libA.so.1");
    assert_false(bl_elfahead_pending(a, app));
    assert_int_equal(examine(a, app, got, sizeof got), 0); /* examined once */
    /* libB.so through A's RUNPATH */
    assert_int_equal(examine(a, entry("lib/libA.so.1"), got, sizeof got), 1);
    assert_string_equal(got, "lib/a/libB.so");
    /* B has no paths: app's RPATH (inherited), not A's RUNPATH (the decoy) */
    assert_int_equal(examine(a, entry("lib/a/libB.so"), got, sizeof got), 1);
    assert_string_equal(got, "lib/libC.so");
    /* libD.so only in the set's LD_LIBRARY_PATH */
    assert_int_equal(examine(a, entry("lib/libC.so"), got, sizeof got), 1);
    assert_string_equal(got, "ldp/libD.so");
    /* D needs A again: already tracked, nothing new */
    assert_int_equal(examine(a, entry("ldp/libD.so"), got, sizeof got), 0);
    /* the rest of the set was never tracked */
    assert_false(bl_elfahead_pending(a, entry("lib/libunused.so")));
    assert_false(bl_elfahead_pending(a, entry("lib/a/libC.so")));
    bl_elfahead_stats st;
    bl_elfahead_get_stats(a, &st);
    assert_int_equal(st.examined, 5);
    assert_int_equal(st.found, 4);
    bl_elfahead_free(a);
}

static void test_not_elf_and_untracked(void **state)
{
    (void)state;
    bl_err err;
    bl_elfahead *a = bl_elfahead_new(&mi, &ix, &err);
    assert_non_null(a);
    char got[512];
    size_t readme = entry("share/readme");
    /* examining what was never tracked does nothing */
    assert_int_equal(examine(a, entry("bin/app"), got, sizeof got), 0);
    assert_true(bl_elfahead_track(a, readme));
    assert_int_equal(examine(a, readme, got, sizeof got), 0);
    assert_false(bl_elfahead_pending(a, readme));
    /* directories and symlinks are never tracked */
    assert_false(bl_elfahead_track(a, entry("share")));
    assert_false(bl_elfahead_track(a, entry("lib/libA.so")));
    /* a truncated image needs nothing (and does not crash) */
    size_t app = entry("bin/app");
    assert_true(bl_elfahead_track(a, app));
    size_t deps[4];
    assert_int_equal(bl_elfahead_examine(a, app, (const uint8_t *)"\177ELF\2\1", 6, deps, 4), 0);
    bl_elfahead_stats st;
    bl_elfahead_get_stats(a, &st);
    assert_int_equal(st.examined, 0);
    bl_elfahead_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closure_in_load_order),
        cmocka_unit_test(test_not_elf_and_untracked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
