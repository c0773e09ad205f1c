/* Unit tests for the daemon's side of the registry (src/launch/watch.c):
 * the watch leaves (calls fn) when its last holder exits, SIGKILL
 * included; not while another holder lives or a new one joined meanwhile;
 * not while DIR/keep exists; not while a rank holds the lock (it waits for
 * it); and it removes the registry when freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/evloop.h"
#include "launch/registry.h"
#include "launch/watch.h"

static char tmp[256], regdir[300];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/test_watch.XXXXXX");
    assert_non_null(mkdtemp(tmp));
    snprintf(regdir, sizeof regdir, "%s/reg.run", tmp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static pid_t sleeper(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

static void add_holder(pid_t pid)
{
    bl_reg r;
    bl_err err;
    bl_reg_init(&r, regdir, &err);
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0);
    assert_int_equal(bl_reg_add(&r, pid, &err), 0);
    bl_reg_unlock(&r);
}

static int fired;
static void on_unused(void *arg)
{
    (void)arg;
    fired++;
}

/* Run the loop until fired or ms pass. */
static void run_for(bl_loop *loop, int ms)
{
    for (int t = 0; t < ms && !fired; t += 10)
        bl_loop_run_once(loop, 10);
}

static void test_last_holder_leaves(void **state)
{
    (void)state;
    fired = 0;
    pid_t a = sleeper(), b = sleeper();
    add_holder(a);
    add_holder(b);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    bl_reg_watch *w = bl_reg_watch_new(loop, regdir, on_unused, NULL, &err);
    assert_non_null(w);
    assert_int_equal(bl_reg_watch_count(w), 2);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    run_for(loop, 300);
    assert_int_equal(fired, 0);
    assert_int_equal(bl_reg_watch_count(w), 1);
    /* c joins while b still lives; then b dies: c keeps the mount */
    pid_t c = sleeper();
    add_holder(c);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    run_for(loop, 300);
    assert_int_equal(fired, 0);
    assert_int_equal(bl_reg_watch_count(w), 1);
    /* c goes: the watch leaves at once (no 2 s rescan needed) */
    kill(c, SIGTERM);
    waitpid(c, NULL, 0);
    run_for(loop, 500);
    assert_int_equal(fired, 1);
    /* the lock is the watch's until it is freed: a joiner must wait */
    bl_reg r;
    bl_reg_init(&r, regdir, &err);
    assert_int_equal(bl_reg_trylock(&r, &err), 0);
    bl_reg_watch_free(w);
    assert_int_equal(access(regdir, F_OK), -1);
    bl_loop_free(loop);
}

static void test_waits_for_lock_and_keep(void **state)
{
    (void)state;
    fired = 0;
    pid_t a = sleeper();
    add_holder(a);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    bl_reg_watch *w = bl_reg_watch_new(loop, regdir, on_unused, NULL, &err);
    bl_reg r;
    bl_reg_init(&r, regdir, &err);
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0); /* a rank is joining */
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    run_for(loop, 200);
    assert_int_equal(fired, 0);
    pid_t b = sleeper();
    assert_int_equal(bl_reg_add(&r, b, &err), 0); /* ...and registers */
    bl_reg_unlock(&r);
    run_for(loop, 200);
    assert_int_equal(fired, 0);
    /* keep: b's exit does not end the mount */
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0);
    assert_int_equal(bl_reg_set_keep(&r, &err), 0);
    bl_reg_unlock(&r);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    run_for(loop, 300);
    assert_int_equal(fired, 0);
    /* freed (the daemon was stopped): nobody holds it, so it is removed */
    bl_reg_watch_free(w);
    assert_int_equal(access(regdir, F_OK), -1);
    bl_loop_free(loop);
}

static void test_free_keeps_registry_in_use(void **state)
{
    (void)state;
    fired = 0;
    pid_t a = sleeper();
    add_holder(a);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    bl_reg_watch *w = bl_reg_watch_new(loop, regdir, on_unused, NULL, &err);
    bl_reg_watch_free(w); /* stopped while a still uses it */
    assert_int_equal(access(regdir, F_OK), 0);
    bl_reg r;
    bl_reg_init(&r, regdir, &err);
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0);
    assert_int_equal(bl_reg_holders(&r, NULL, 0), 1);
    bl_reg_unlock(&r);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    bl_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_last_holder_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_lock_and_keep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_keeps_registry_in_use, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
