/* Unit tests for meta/elfdeps: the ELF reader on real, hand-built and broken
 * images, and the closure against ld.so's rules (and against ldd itself). */
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

#include "core/log.h"
#include "meta/elfdeps.h"

#include "elf_writer.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static char tmpdir[PATH_MAX];

static char *tpath(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, rel);
    return buf[k];
}

static void mkdirs(const char *rel)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tpath(rel));
    assert_int_equal(system(cmd), 0);
}

static void put_elf(const char *rel, const spec *s)
{
    uint8_t img[4096];
    size_t n = build_elf(s, img);
    char *p = tpath(rel), *sl = strrchr(p, '/');
    *sl = '\0';
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    *sl = '/';
    write_file(p, img, n);
}

static void fresh_dir(void)
{
    if (tmpdir[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bl_elfdeps_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

/* Run the closure over one root (prefix "") and return the list joined by ' '. */
static char *closure_str(const char *root, const char *mount, const char *const *lp, size_t nlp,
                         const char *exe)
{
    bl_setroot r = {root, ""};
    bl_elfdeps_opts o = {&r, 1, mount, lp, nlp};
    char **paths = NULL;
    size_t n = 0;
    bl_err err = {{0}, 0};
    int rc = bl_elfdeps_closure(&o, exe, &paths, &n, &err);
    if (rc != 0)
        fail_msg("closure failed: %s", err.msg);
    static char out[8192];
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, " ");
        strcat(out, paths[i]);
    }
    bl_elfdeps_free_list(paths, n);
    return out;
}

#define X64(...) {.is64 = true, .machine = 62, __VA_ARGS__}

/* ---- parser ---- */

static void test_parse_handbuilt_all_layouts(void **state)
{
    (void)state;
    for (int layout = 0; layout < 4; layout++) {
        spec s = {.is64 = layout & 1, .be = layout & 2, .machine = (layout & 1) ? 62 : 3,
                  .needed = {"liba.so.1", "libb.so"}, .soname = "libme.so.2",
                  .rpath = "$ORIGIN/r", .runpath = "/opt/x:$ORIGIN", .interp = "/lib/ld.so.1"};
        uint8_t img[4096];
        size_t n = build_elf(&s, img);
        bl_elfinfo info;
        bl_err err;
        assert_int_equal(bl_elf_parse(img, n, &info, &err), 0);
        assert_int_equal(info.elfclass, (layout & 1) ? 2 : 1);
        assert_int_equal(info.data, (layout & 2) ? 2 : 1);
        assert_int_equal(info.machine, s.machine);
        assert_true(info.dynamic);
        assert_int_equal(info.nneeded, 2);
        assert_string_equal(info.needed[0], "liba.so.1");
        assert_string_equal(info.needed[1], "libb.so");
        assert_string_equal(info.soname, "libme.so.2");
        assert_string_equal(info.rpath, "$ORIGIN/r");
        assert_string_equal(info.runpath, "/opt/x:$ORIGIN");
        assert_string_equal(info.interp, "/lib/ld.so.1");
        bl_elfinfo_free(&info);
    }
}

static void test_parse_section_fallback(void **state)
{
    (void)state;
    for (int is64 = 0; is64 < 2; is64++) {
        spec s = {.is64 = is64, .machine = 62, .needed = {"libz.so"}, .strtab_by_section = true};
        uint8_t img[4096];
        size_t n = build_elf(&s, img);
        bl_elfinfo info;
        bl_err err;
        assert_int_equal(bl_elf_parse(img, n, &info, &err), 0);
        assert_int_equal(info.nneeded, 1);
        assert_string_equal(info.needed[0], "libz.so");
        bl_elfinfo_free(&info);
        /* without the section header the address maps nowhere: an error */
        memset(img + (is64 ? 40 : 32), 0, is64 ? 8 : 4);     /* e_shoff = 0 */
        assert_int_equal(bl_elf_parse(img, n, &info, &err), -1);
        assert_non_null(strstr(err.msg, "DT_STRTAB"));
    }
}

static void test_parse_real_files(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = slurp("/bin/ls", &n);
    if (!p)
        skip();
    bl_elfinfo info;
    bl_err err;
    assert_int_equal(bl_elf_parse(p, n, &info, &err), 0);
    assert_true(info.dynamic);
    assert_non_null(info.interp);
    bool libc = false;
    for (size_t i = 0; i < info.nneeded; i++)
        libc |= strcmp(info.needed[i], "libc.so.6") == 0;
    assert_true(libc);
    bl_elfinfo_free(&info);
    free(p);
}

static void test_parse_rejects_garbage(void **state)
{
    (void)state;
    bl_elfinfo info;
    bl_err err;
    uint8_t junk[64] = "#!/bin/sh\necho not elf\n";
    assert_int_equal(bl_elf_parse(junk, sizeof junk, &info, &err), -1);
    assert_non_null(strstr(err.msg, "magic"));
    assert_int_equal(bl_elf_parse(junk, 0, &info, &err), -1);

    spec s = X64(.needed = {"liba.so"}, .soname = "x");
    uint8_t img[4096], bad[4096];
    size_t n = build_elf(&s, img);
    memcpy(bad, img, n);
    bad[4] = 7;
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);
    assert_non_null(strstr(err.msg, "class"));

    /* e_phnum huge: program headers past the end */
    memcpy(bad, img, n);
    bad[56] = 0xfe;
    bad[57] = 0xff;
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);
    assert_non_null(strstr(err.msg, "program headers"));

    /* e_phoff far past the end */
    memcpy(bad, img, n);
    memset(bad + 32, 0xff, 8);
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);

    /* PT_DYNAMIC offset past the end (second phdr, p_offset at +8) */
    memcpy(bad, img, n);
    memset(bad + 64 + 56 + 8, 0x7f, 8);
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);
    assert_non_null(strstr(err.msg, "dynamic"));

    /* PT_DYNAMIC size huge */
    memcpy(bad, img, n);
    memset(bad + 64 + 56 + 32, 0xff, 8);
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);

    /* DT_NEEDED string offset past the string table (first dyn entry value) */
    size_t dynoff = 64 + 2 * 56;
    memcpy(bad, img, n);
    memset(bad + dynoff + 8, 0x7f, 7);
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);
    assert_non_null(strstr(err.msg, "DT_NEEDED"));

    /* huge DT_STRSZ is clamped to the file, strings still read */
    memcpy(bad, img, n);
    memset(bad + dynoff + 3 * 16 + 8, 0xff, 8);
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), 0);
    assert_string_equal(info.needed[0], "liba.so");
    bl_elfinfo_free(&info);

    /* unterminated string at the end of the file */
    memcpy(bad, img, n);
    bad[n - 1] = 'x';
    assert_int_equal(bl_elf_parse(bad, n, &info, &err), -1);
    assert_non_null(strstr(err.msg, "unterminated"));
}

static void test_parse_truncations(void **state)
{
    (void)state;
    spec s = X64(.needed = {"liba.so", "libb.so"}, .soname = "libc.so", .runpath = "$ORIGIN",
                 .interp = "/lib64/ld-linux-x86-64.so.2");
    uint8_t img[4096];
    size_t n = build_elf(&s, img);
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1);      /* exact size: ASan sees overreads */
        memcpy(cut, img, len);
        bl_elfinfo info;
        bl_err err;
        int rc = bl_elf_parse(cut, len, &info, &err);
        assert_int_equal(rc, -1);   /* the string table is at the very end */
        free(cut);
    }
    /* a real library too: every prefix either parses or fails cleanly */
    size_t rn;
    uint8_t *real = slurp("/bin/true", &rn);
    if (!real)
        return;
    for (size_t len = 0; len < rn; len += len < 4096 ? 7 : 997) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, real, len);
        bl_elfinfo info;
        bl_err err;
        if (bl_elf_parse(cut, len, &info, &err) == 0)
            bl_elfinfo_free(&info);
        else
            assert_true(err.msg[0] != '\0');
        free(cut);
    }
    free(real);
}

static void test_parse_real_elf32(void **state)
{
    (void)state;
    fresh_dir();
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && echo 'int f(void){return 1;}' > f.c && cc -m32 -fPIC -c f.c -o f.o "
             "2>/dev/null && ld -m elf_i386 -shared --enable-new-dtags -soname libf32.so.3 -rpath '$ORIGIN/x' "
             "-o libf32.so f.o 2>/dev/null",
             tmpdir);
    if (system(cmd) != 0)
        skip();     /* no 32-bit toolchain: the hand-built ELF32 images still cover it */
    size_t n;
    uint8_t *p = slurp(tpath("libf32.so"), &n);
    assert_non_null(p);
    bl_elfinfo info;
    bl_err err;
    assert_int_equal(bl_elf_parse(p, n, &info, &err), 0);
    assert_int_equal(info.elfclass, 1);
    assert_int_equal(info.machine, 3);
    assert_string_equal(info.soname, "libf32.so.3");
    assert_null(info.rpath);
    assert_non_null(info.runpath);
    assert_string_equal(info.runpath, "$ORIGIN/x");
    bl_elfinfo_free(&info);
    free(p);
}

/* ---- closure on hand-built sets ---- */

static void test_closure_runpath_not_inherited_rpath_inherited(void **state)
{
    (void)state;
    fresh_dir();
    /* bin/a: RUNPATH $ORIGIN/../lib -> libp -> libq: libp has no paths, so
     * libq is not found (RUNPATH is the loader's only). */
    spec a = X64(.needed = {"libp.so"}, .runpath = "$ORIGIN/../lib");
    spec b = X64(.needed = {"libp.so"}, .rpath = "$ORIGIN/../lib");
    spec p = X64(.needed = {"libq.so"}, .soname = "libp.so");
    spec q = X64(.soname = "libq.so");
    put_elf("bin/a", &a);
    put_elf("bin/b", &b);
    put_elf("lib/libp.so", &p);
    put_elf("lib/libq.so", &q);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("bin/a")),
                        "bin/a lib/libp.so");
    /* bin/b: DT_RPATH is inherited by libp, so libq is found */
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("bin/b")),
                        "bin/b lib/libp.so lib/libq.so");
    /* an object with both: RPATH ignored */
    spec c = X64(.needed = {"libp.so"}, .rpath = "$ORIGIN/../lib", .runpath = "/nowhere");
    put_elf("bin/c", &c);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("bin/c")), "bin/c");
    /* ... also when it is an ancestor: libp does not inherit d's RPATH */
    spec d = X64(.needed = {"libp.so"}, .rpath = "$ORIGIN/../lib", .runpath = "$ORIGIN/../lib");
    put_elf("bin/d", &d);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("bin/d")), "bin/d lib/libp.so");
    /* the library path reaches libq from libp */
    const char *lp[] = {"lib"};
    assert_string_equal(closure_str(tmpdir, NULL, lp, 1, tpath("bin/a")),
                        "bin/a lib/libp.so lib/libq.so");
}

static void test_closure_order_and_precedence(void **state)
{
    (void)state;
    fresh_dir();
    /* RPATH beats the library path, which beats RUNPATH. */
    spec e1 = X64(.needed = {"libx.so"}, .rpath = "r");
    spec e2 = X64(.needed = {"libx.so"}, .runpath = "u");
    spec x = X64(.soname = "libx.so");
    put_elf("bin/e1", &e1);
    put_elf("bin/e2", &e2);
    put_elf("r/libx.so", &x);
    put_elf("l/libx.so", &x);
    put_elf("u/libx.so", &x);
    const char *lp[] = {"l"};
    assert_string_equal(closure_str(tmpdir, NULL, lp, 1, tpath("bin/e1")), "bin/e1 r/libx.so");
    assert_string_equal(closure_str(tmpdir, NULL, lp, 1, tpath("bin/e2")), "bin/e2 l/libx.so");
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("bin/e2")), "bin/e2 u/libx.so");
    /* breadth first: both direct needs before the grandchild */
    spec top = X64(.needed = {"libm1.so", "libm2.so"}, .runpath = "$ORIGIN");
    spec m1 = X64(.needed = {"libg.so"}, .runpath = "$ORIGIN");
    spec m2 = X64(.soname = "libm2.so");
    put_elf("o/top", &top);
    put_elf("o/libm1.so", &m1);
    put_elf("o/libm2.so", &m2);
    put_elf("o/libg.so", &m2);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("o/top")),
                        "o/top o/libm1.so o/libm2.so o/libg.so");
}

static void test_closure_dedupe_and_class(void **state)
{
    (void)state;
    fresh_dir();
    /* app needs libreal.so (SONAME libx.so.1) first; libb's need of
     * libx.so.1 matches that SONAME and is not searched (other/ not listed). */
    spec app = X64(.needed = {"libreal.so", "libb.so"}, .runpath = "$ORIGIN/lib");
    spec real = X64(.soname = "libx.so.1");
    spec b = X64(.needed = {"libx.so.1"}, .runpath = "$ORIGIN/../other");
    spec other = X64(.soname = "libx.so.1");
    put_elf("app", &app);
    put_elf("lib/libreal.so", &real);
    put_elf("lib/libb.so", &b);
    put_elf("other/libx.so.1", &other);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("app")),
                        "app lib/libreal.so lib/libb.so");

    /* wrong class or machine is skipped and the search goes on; a symlink
     * is listed with its target; the same file under two names loads once */
    spec app2 = X64(.needed = {"libk.so", "libk.so.1"}, .runpath = "$ORIGIN/w32:$ORIGIN/arm:$ORIGIN/ok");
    spec k32 = {.is64 = false, .machine = 3, .soname = "libk32"};
    spec karm = {.is64 = true, .machine = 183, .soname = "libkarm"};
    spec k = X64(.soname = "libkk");
    put_elf("b2/app2", &app2);
    put_elf("b2/w32/libk.so", &k32);
    put_elf("b2/arm/libk.so", &karm);
    put_elf("b2/ok/libk.so.1.2", &k);
    assert_int_equal(symlink("libk.so.1.2", tpath("b2/ok/libk.so.1")), 0);
    assert_int_equal(symlink("libk.so.1", tpath("b2/ok/libk.so")), 0);
    /* glibc-hwcaps variants in the set are listed with the base library */
    spec app3 = X64(.needed = {"libh.so"}, .runpath = "$ORIGIN/h");
    spec h = X64(.soname = "libh.so");
    put_elf("b3/app3", &app3);
    put_elf("b3/h/libh.so", &h);
    put_elf("b3/h/glibc-hwcaps/x86-64-v3/libh.so", &h);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("b3/app3")),
                        "b3/app3 b3/h/libh.so b3/h/glibc-hwcaps/x86-64-v3/libh.so");
    /* a directory symlink: named lexically when that reaches the same file */
    spec app4 = X64(.needed = {"libh.so"}, .runpath = "$ORIGIN/../alias");
    put_elf("b4/bin/app4", &app4);
    assert_int_equal(symlink("../b3/h", tpath("b4/alias")), 0);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("b4/bin/app4")),
                        "b4/bin/app4 b4/alias/libh.so b3/h/libh.so "
                        "b4/alias/glibc-hwcaps/x86-64-v3/libh.so b3/h/glibc-hwcaps/x86-64-v3/libh.so");
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("b2/app2")),
                        "b2/app2 b2/ok/libk.so b2/ok/libk.so.1.2 b2/ok/libk.so.1");
}

static void test_closure_origin_mount_paths(void **state)
{
    (void)state;
    fresh_dir();
    /* $ORIGIN of the executable is its real path: bin/run -> ../real/run */
    spec run = X64(.needed = {"libo.so"}, .runpath = "${ORIGIN}/lib");
    spec o = X64(.needed = {"sub/libslash.so"}, .soname = "libo.so");
    spec sl = X64(.needed = {"libabs.so"}, .rpath = "/opt/set/abs");
    spec ab = X64(.soname = "libabs.so");
    put_elf("real/run", &run);
    put_elf("real/lib/libo.so", &o);
    put_elf("sub/libslash.so", &sl);        /* a '/'-name: relative to the set root */
    put_elf("abs/libabs.so", &ab);
    mkdirs("bin");
    assert_int_equal(symlink("../real/run", tpath("bin/run")), 0);
    assert_string_equal(closure_str(tmpdir, "/opt/set", NULL, 0, tpath("bin/run")),
                        "bin/run real/run real/lib/libo.so sub/libslash.so abs/libabs.so");
    /* without the mount, /opt/set/abs is a host path: libabs is not found */
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("bin/run")),
                        "bin/run real/run real/lib/libo.so sub/libslash.so");
    /* ".." never leaves the set root */
    spec up = X64(.needed = {"libabs.so"}, .runpath = "$ORIGIN/../../../../abs");
    put_elf("up", &up);
    assert_string_equal(closure_str(tmpdir, NULL, NULL, 0, tpath("up")), "up abs/libabs.so");
    /* the executable outside the set: only the set's libraries are listed */
    char outside[PATH_MAX];
    snprintf(outside, sizeof outside, "%s.exe", tmpdir);
    spec ext = X64(.needed = {"libo.so"});
    uint8_t img[4096];
    size_t n = build_elf(&ext, img);
    write_file(outside, img, n);
    const char *lp[] = {"/opt/set/real/lib"};
    assert_string_equal(closure_str(tmpdir, "/opt/set", lp, 1, outside),
                        "real/lib/libo.so sub/libslash.so abs/libabs.so");
    unlink(outside);
}

static void test_closure_multi_root_and_errors(void **state)
{
    (void)state;
    fresh_dir();
    spec app = X64(.needed = {"libm.so"}, .runpath = "$ORIGIN/../libs");
    spec m = X64(.soname = "libm.so");
    put_elf("d1/app", &app);
    put_elf("d2/libm.so", &m);
    bl_setroot roots[] = {{tpath("d1"), "bin"}, {tpath("d2"), "libs"}};
    bl_elfdeps_opts o = {roots, 2, NULL, NULL, 0};
    char **paths = NULL;
    size_t n = 0;
    bl_err err;
    assert_int_equal(bl_elfdeps_closure(&o, tpath("d1/app"), &paths, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(paths[0], "bin/app");
    assert_string_equal(paths[1], "libs/libm.so");
    /* appending again adds nothing new */
    assert_int_equal(bl_elfdeps_closure(&o, tpath("d1/app"), &paths, &n, &err), 0);
    assert_int_equal(n, 2);
    bl_elfdeps_free_list(paths, n);

    paths = NULL;
    n = 0;
    write_file(tpath("d1/script"), "#!/bin/sh\n", 10);
    assert_int_equal(bl_elfdeps_closure(&o, tpath("d1/script"), &paths, &n, &err), -1);
    assert_non_null(strstr(err.msg, "magic"));
    assert_int_equal(bl_elfdeps_closure(&o, tpath("d1/nope"), &paths, &n, &err), -1);
    assert_non_null(strstr(err.msg, "nope"));
    assert_int_equal(n, 0);
}

/* ---- closure on a real gcc-built set, compared with ldd ---- */

static void lexnorm_rel(const char *path, const char *root, char *out, size_t cap)
{
    char tmp[PATH_MAX];
    char *parts[256];
    size_t np = 0;
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *save, *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0) {
            if (np)
                np--;
            continue;
        }
        parts[np++] = t;
    }
    char norm[PATH_MAX] = "";
    for (size_t i = 0; i < np; i++) {
        strcat(norm, "/");
        strcat(norm, parts[i]);
    }
    size_t rl = strlen(root);
    out[0] = '\0';
    if (strncmp(norm, root, rl) == 0 && norm[rl] == '/')
        snprintf(out, cap, "%s", norm + rl + 1);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_closure_matches_ldd(void **state)
{
    (void)state;
    fresh_dir();
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "tests/system/lib/mklibset.sh '%s/set' >/dev/null 2>&1", tmpdir);
    if (access("tests/system/lib/mklibset.sh", X_OK) != 0 || system("command -v gcc >/dev/null") != 0)
        skip();
    assert_int_equal(system(cmd), 0);
    char root[PATH_MAX];
    assert_non_null(realpath(tpath("set"), root));

    /* what ldd says, inside the set: the path as found and the file it is */
    char *want[64];
    size_t nw = 0;
    want[nw++] = strdup("bin/app");
    snprintf(cmd, sizeof cmd, "env -u LD_LIBRARY_PATH ldd '%s/bin/app'", root);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[PATH_MAX + 128];
    while (fgets(line, sizeof line, p)) {
        char *arrow = strstr(line, "=> /");
        if (!arrow)
            continue;
        char *path = arrow + 3;
        path[strcspn(path, " (\n")] = '\0';
        char rel[PATH_MAX], real[PATH_MAX];
        lexnorm_rel(path, root, rel, sizeof rel);
        if (rel[0])
            want[nw++] = strdup(rel);
        if (realpath(path, real)) {
            lexnorm_rel(real, root, rel, sizeof rel);
            if (rel[0])
                want[nw++] = strdup(rel);
        }
    }
    assert_int_equal(pclose(p), 0);
    qsort(want, nw, sizeof *want, cmpstr);
    size_t u = 0;
    for (size_t i = 0; i < nw; i++) {
        if (u && strcmp(want[u - 1], want[i]) == 0)
            free(want[i]);
        else
            want[u++] = want[i];
    }
    nw = u;

    bl_setroot r = {tpath("set"), ""};
    bl_elfdeps_opts o = {&r, 1, NULL, NULL, 0};
    char **got = NULL;
    size_t ng = 0;
    bl_err err;
    assert_int_equal(bl_elfdeps_closure(&o, tpath("set/bin/app"), &got, &ng, &err), 0);
    /* exact load order of the set built by mklibset.sh */
    const char *order[] = {"bin/app", "lib/libalpha.so.1", "lib/libalpha.so.1.0.0",
                           "lib/libbeta.so", "lib/sub/libgamma.so", "lib/sub/libdelta.so"};
    assert_int_equal(ng, sizeof order / sizeof order[0]);
    for (size_t i = 0; i < ng; i++)
        assert_string_equal(got[i], order[i]);
    qsort(got, ng, sizeof *got, cmpstr);
    for (size_t i = 0; i < ng && i < nw; i++)
        assert_string_equal(got[i], want[i]);
    assert_int_equal(ng, nw);
    for (size_t i = 0; i < ng; i++)
        assert_null(strstr(got[i], "unused"));
    bl_elfdeps_free_list(got, ng);
    for (size_t i = 0; i < nw; i++)
        free(want[i]);
}

static int cleanup(void **state)
{
    (void)state;
    if (tmpdir[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            return -1;
        tmpdir[0] = '\0';
    }
    return 0;
}

int main(void)
{
    bl_log_set_level(BL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_handbuilt_all_layouts),
        cmocka_unit_test(test_parse_section_fallback),
        cmocka_unit_test(test_parse_real_files),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_parse_truncations),
        cmocka_unit_test_teardown(test_parse_real_elf32, cleanup),
        cmocka_unit_test_teardown(test_closure_runpath_not_inherited_rpath_inherited, cleanup),
        cmocka_unit_test_teardown(test_closure_order_and_precedence, cleanup),
        cmocka_unit_test_teardown(test_closure_dedupe_and_class, cleanup),
        cmocka_unit_test_teardown(test_closure_origin_mount_paths, cleanup),
        cmocka_unit_test_teardown(test_closure_multi_root_and_errors, cleanup),
        cmocka_unit_test_teardown(test_closure_matches_ldd, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
