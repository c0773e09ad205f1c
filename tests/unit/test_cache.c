/* Unit tests for cache selection and locking (src/fs/cache.c, issue 10,
 * defect 4): one writer per cache, a second mount of the same set gets its
 * own default cache, the holder is named, the per-user root is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha1.h"
#include "fs/cache.h"

static void fake_mi(bl_metainfo *mi)
{
    memset(mi, 0, sizeof *mi);
    assert_int_equal(getrandom(mi->info_hash, sizeof mi->info_hash, 0), sizeof mi->info_hash);
}

static void rm_cache(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/" BL_CACHE_LOCK, dir);
    unlink(p);
    rmdir(dir);
}

static void test_default_instances(void **state)
{
    (void)state;
    bl_metainfo mi;
    fake_mi(&mi);
    char root[PATH_MAX], hex[41], note[2 * PATH_MAX + 128];
    bl_err err;
    assert_int_equal(bl_cache_default_root(root, sizeof root, true, &err), 0);
    struct stat st;
    assert_int_equal(lstat(root, &st), 0);
    assert_true(S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077));
    bl_hex(mi.info_hash, BL_SHA1_LEN, hex);

    bl_cache a, b, c;
    assert_int_equal(bl_cache_open(&a, NULL, &mi, "/mnt/a", note, sizeof note, &err), 0);
    assert_string_equal(note, "");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/%s", root, hex);
    assert_string_equal(a.dir, want);
    pid_t pid;
    char mount[PATH_MAX];
    assert_true(bl_cache_holder(a.dir, &pid, mount, sizeof mount));
    assert_int_equal(pid, getpid());
    assert_string_equal(mount, "/mnt/a");

    /* the same set again: its own cache, said in the note */
    assert_int_equal(bl_cache_open(&b, NULL, &mi, "/mnt/b", note, sizeof note, &err), 0);
    snprintf(want, sizeof want, "%s/%s.2", root, hex);
    assert_string_equal(b.dir, want);
    assert_non_null(strstr(note, "in use by pid"));
    assert_non_null(strstr(note, "this mount uses its own cache"));

    /* an explicit --cache another holds: refused, naming the holder */
    assert_int_equal(bl_cache_open(&c, a.dir, &mi, "/mnt/c", note, sizeof note, &err), -1);
    assert_non_null(strstr(err.msg, "is in use by another bitlib daemon"));
    assert_non_null(strstr(err.msg, "mount /mnt/a"));

    /* released: free again, and reused first */
    bl_cache_close(&a);
    char first[PATH_MAX];
    snprintf(first, sizeof first, "%s/%s", root, hex);
    assert_false(bl_cache_holder(first, &pid, mount, sizeof mount));
    assert_int_equal(bl_cache_open(&c, NULL, &mi, "/mnt/c", note, sizeof note, &err), 0);
    assert_string_equal(c.dir, first);
    bl_cache_close(&b);
    bl_cache_close(&c);
    rm_cache(first);
    rm_cache(want);
}

static void test_unusable(void **state)
{
    (void)state;
    bl_metainfo mi;
    fake_mi(&mi);
    char dir[] = "/tmp/bl_cache_XXXXXX", note[64];
    assert_non_null(mkdtemp(dir));
    bl_cache c;
    bl_err err;
    char file[64];
    snprintf(file, sizeof file, "%s/file", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    assert_int_equal(bl_cache_open(&c, file, &mi, "/m", note, sizeof note, &err), -1);
    assert_non_null(strstr(err.msg, "is not a directory"));
    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_instances),
        cmocka_unit_test(test_unusable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
