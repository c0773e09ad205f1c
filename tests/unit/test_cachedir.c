/* Unit tests for src/fs/cachedir.c (bitlib cache ls/gc): which names are
 * caches, what a cache's description says, that a held cache is never
 * removed, that removal goes through a hidden name and never follows a
 * symlink, and that a mount racing a removal gets a fresh cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha1.h"
#include "fs/cache.h"
#include "fs/cachedir.h"

#define HEX "0123456789abcdef0123456789abcdef01234567"

static char root[PATH_MAX];

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/test_cachedir.XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    bl_err err;
    assert_int_equal(bl_cachedir_rmtree(root, &err), 0);
    return 0;
}

static void write_file(const char *path, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (len) {
        size_t n = len < sizeof buf ? len : sizeof buf;
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        len -= n;
    }
    close(fd);
}

static void make_cache(const char *path)
{
    char p[PATH_MAX];
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(p, sizeof p, "%s/lib", path);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/lib/libx.so", path);
    write_file(p, 40000);
    snprintf(p, sizeof p, "%s/" BL_CACHE_LOCK, path);
    write_file(p, 0);
}

static void test_names(void **state)
{
    assert_true(bl_cachedir_is_name(HEX));
    assert_true(bl_cachedir_is_name(HEX ".2"));
    assert_true(bl_cachedir_is_name(HEX ".16"));
    assert_false(bl_cachedir_is_name(HEX ".1"));
    assert_false(bl_cachedir_is_name(HEX ".17"));
    assert_false(bl_cachedir_is_name(HEX ".02"));
    assert_false(bl_cachedir_is_name(HEX "."));
    assert_false(bl_cachedir_is_name(HEX ".2x"));
    assert_false(bl_cachedir_is_name(HEX "0"));
    assert_false(bl_cachedir_is_name("0123456789ABCDEF0123456789abcdef01234567"));
    assert_false(bl_cachedir_is_name("0123"));
    assert_false(bl_cachedir_is_name(""));
    assert_false(bl_cachedir_is_name(BL_CACHEDIR_TRASH HEX ".12"));
}

static void test_stat_held_and_free(void **state)
{
    char c1[PATH_MAX], lock[PATH_MAX];
    snprintf(c1, sizeof c1, "%s/" HEX, root);
    make_cache(c1);
    bl_cachedir c;
    bl_err err;
    assert_int_equal(bl_cachedir_stat(c1, &c, &err), 0);
    assert_string_equal(c.info_hash, HEX);
    assert_false(c.held);
    assert_int_equal(c.files, 1);
    assert_true(c.bytes >= 40000);

    /* a daemon holds it: its lock file names it */
    snprintf(lock, sizeof lock, "%s/" BL_CACHE_LOCK, c1);
    int fd = open(lock, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(pwrite(fd, "pid 4242 mount /opt/x\n", 22, 0), 22);
    assert_int_equal(bl_cachedir_stat(c1, &c, &err), 0);
    assert_true(c.held);
    assert_int_equal(c.pid, 4242);
    assert_string_equal(c.mount, "/opt/x");
    assert_int_equal(bl_cachedir_remove(c1, &err), 0);   /* held: untouched */
    struct stat st;
    assert_int_equal(stat(c1, &st), 0);
    close(fd);

    /* let go: still says who held it last, and now goes */
    assert_int_equal(bl_cachedir_stat(c1, &c, &err), 0);
    assert_false(c.held);
    assert_int_equal(c.pid, 4242);
    assert_int_equal(bl_cachedir_remove(c1, &err), 1);
    assert_int_equal(stat(c1, &st), -1);

    /* a directory that is not a cache */
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/other", root);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(bl_cachedir_stat(other, &c, &err), -1);
    assert_non_null(strstr(err.msg, "not a bitlib cache"));
}

static void test_remove_never_follows_symlinks(void **state)
{
    char c1[PATH_MAX], outside[PATH_MAX], p[PATH_MAX], t[PATH_MAX];
    snprintf(c1, sizeof c1, "%s/" HEX ".3", root);
    make_cache(c1);
    snprintf(outside, sizeof outside, "%s/outside", root);
    assert_int_equal(mkdir(outside, 0700), 0);
    snprintf(t, sizeof t, "%s/keep", outside);
    write_file(t, 10);
    snprintf(p, sizeof p, "%s/lib/evil", c1);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/evil-file", c1);
    assert_int_equal(symlink(t, p), 0);
    bl_err err;
    assert_int_equal(bl_cachedir_remove(c1, &err), 1);
    struct stat st;
    assert_int_equal(stat(t, &st), 0);
    assert_int_equal(st.st_size, 10);
}

typedef struct seen {
    int caches, trash;
} seen;

static void count(const bl_cachedir *c, bool trash, void *arg)
{
    seen *s = arg;
    if (trash)
        s->trash++;
    else
        s->caches++;
}

static void test_scan(void **state)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/" HEX, root);
    make_cache(p);
    snprintf(p, sizeof p, "%s/" HEX ".2", root);
    make_cache(p);
    snprintf(p, sizeof p, "%s/" BL_CACHEDIR_TRASH HEX ".77", root);
    make_cache(p);
    snprintf(p, sizeof p, "%s/not-a-cache", root);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/" HEX ".99", root);
    assert_int_equal(mkdir(p, 0700), 0);
    seen s = {0, 0};
    bl_err err;
    assert_int_equal(bl_cachedir_scan(root, count, &s, &err), 0);
    assert_int_equal(s.caches, 2);
    assert_int_equal(s.trash, 1);
    snprintf(p, sizeof p, "%s/missing", root);
    assert_int_equal(bl_cachedir_scan(p, count, &s, &err), -1);
}

/* After a removal the same --cache path makes a fresh cache, which is then
 * held and not removable until it is let go.  (The window between
 * cache.c's open and flock, where its inode check matters, cannot be hit
 * from here.) */
static void test_open_after_removal_gets_fresh_cache(void **state)
{
    char c1[PATH_MAX];
    snprintf(c1, sizeof c1, "%s/explicit", root);
    make_cache(c1);
    bl_err err;
    assert_int_equal(bl_cachedir_remove(c1, &err), 1);
    bl_metainfo mi;
    memset(&mi, 0, sizeof mi);
    bl_cache c;
    assert_int_equal(bl_cache_open(&c, c1, &mi, "/mnt/x", NULL, 0, &err), 0);
    struct stat st;
    assert_int_equal(stat(c1, &st), 0);
    bl_cachedir d;
    assert_int_equal(bl_cachedir_stat(c1, &d, &err), 0);
    assert_true(d.held);
    assert_int_equal(bl_cachedir_remove(c1, &err), 0);
    bl_cache_close(&c);
    assert_int_equal(bl_cachedir_remove(c1, &err), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_stat_held_and_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_never_follows_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_after_removal_gets_fresh_cache, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
