/* Unit tests for node-local coordination (src/launch/registry.c, join.c):
 * process start times, holders and stale holders (a killed process, a PID
 * named with another start time), the lock against another process, the
 * lock surviving removal of the registry, and bl_join's races: N processes
 * joining at the same instant make exactly one start, and a failed start is
 * reported by every rank that waited for it without a second try. */
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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch/join.h"
#include "launch/registry.h"

static char tmp[256], regdir[300];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/test_launch.XXXXXX");
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

static bool exists(const char *rel)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", regdir, rel);
    return access(p, F_OK) == 0;
}

/* A child that sleeps until killed. */
static pid_t sleeper(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_start_time(void **state)
{
    (void)state;
    uint64_t a, b;
    assert_int_equal(bl_proc_start_time(getpid(), &a), 0);
    assert_int_equal(bl_proc_start_time(getpid(), &b), 0);
    assert_true(a == b && a > 0);
    pid_t c = sleeper();
    assert_int_equal(bl_proc_start_time(c, &b), 0);
    assert_true(b >= a);
    kill(c, SIGKILL);
    usleep(50000); /* a zombie is not a live process */
    assert_int_equal(bl_proc_start_time(c, &b), -1);
    waitpid(c, NULL, 0);
    assert_int_equal(bl_proc_start_time(c, &b), -1);
}

/* Holder names: only the canonical form bitlib writes ("PID.START"), so one
 * holder has one name (fuzz_rendezvous found "010.3" taken for 10.3). */
static void test_holder_names(void **state)
{
    (void)state;
    pid_t pid;
    uint64_t start;
    assert_true(bl_reg_parse_holder("10.3", &pid, &start));
    assert_int_equal(pid, 10);
    assert_int_equal(start, 3);
    assert_true(bl_reg_parse_holder("7.0", &pid, &start));
    static const char *bad[] = {"010.3", "7.00", "000002.2", "0.5", "-1.2", "+1.2", "1.", ".1",
                                "1.2x", "1", "1.-2", "1. 2", "2147483648.1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(bl_reg_parse_holder(bad[i], &pid, &start));
}

static void test_holders_and_stale(void **state)
{
    (void)state;
    bl_reg r;
    bl_err err;
    assert_int_equal(bl_reg_init(&r, regdir, &err), 0);
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0);
    pid_t a = sleeper(), b = sleeper();
    assert_int_equal(bl_reg_add(&r, a, &err), 0);
    assert_int_equal(bl_reg_add(&r, b, &err), 0);
    assert_int_equal(bl_reg_add(&r, a, &err), 0); /* twice is once */
    bl_holder hs[4];
    assert_int_equal(bl_reg_holders(&r, hs, 4), 2);
    /* b killed with SIGKILL: stale, and its file goes */
    reap(b);
    assert_int_equal(bl_reg_holders(&r, hs, 4), 1);
    assert_int_equal(hs[0].pid, a);
    /* our own PID with a wrong start time (a recycled PID): stale */
    char p[600];
    snprintf(p, sizeof p, "%s/holders/%d.1", regdir, (int)getpid());
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(p, sizeof p, "%s/holders/junk", regdir);
    fd = open(p, O_CREAT | O_WRONLY, 0600);
    close(fd);
    assert_int_equal(bl_reg_holders(&r, NULL, 0), 1);
    assert_int_equal(access(p, F_OK), -1);
    /* remove_all refuses while a holder lives, works once none does */
    bl_reg_remove_all(&r);
    assert_true(exists("lock") && exists("holders"));
    assert_int_equal(r.lock_fd, -1);
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0);
    bl_reg_remove(&r, a, 0);
    assert_int_equal(bl_reg_holders(&r, NULL, 0), 0);
    assert_int_equal(bl_reg_set_keep(&r, &err), 0);
    assert_true(bl_reg_keep(&r));
    bl_reg_remove_all(&r);
    assert_int_equal(access(regdir, F_OK), -1);
    reap(a);
}

/* A child takes the lock and holds it until told (pipe), then exits. */
static pid_t locker(int *go_fd, bool remove)
{
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bl_reg r;
        bl_err err;
        bl_reg_init(&r, regdir, &err);
        if (bl_reg_lock(&r, 1000, 0, &err) < 0)
            _exit(1);
        char c = 'L';
        if (write(up[1], &c, 1) != 1)
            _exit(1);
        if (read(down[0], &c, 1) != 1)
            _exit(1);
        if (remove)
            bl_reg_remove_all(&r);
        else
            bl_reg_unlock(&r);
        _exit(0);
    }
    char c;
    assert_int_equal(read(up[0], &c, 1), 1);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    *go_fd = down[1];
    return pid;
}

static void test_lock_between_processes(void **state)
{
    (void)state;
    bl_reg r;
    bl_err err;
    bl_reg_init(&r, regdir, &err);
    int go;
    pid_t c = locker(&go, false);
    assert_int_equal(bl_reg_trylock(&r, &err), 0);
    assert_int_equal(bl_reg_lock(&r, 100, 0, &err), -1);
    assert_non_null(strstr(err.msg, "giving up"));
    assert_int_equal(write(go, "x", 1), 1);
    assert_int_equal(bl_reg_lock(&r, 5000, 0, &err), 0);
    bl_reg_unlock(&r);
    waitpid(c, NULL, 0);
    close(go);
    /* a holder killed with SIGKILL releases the lock */
    c = locker(&go, false);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    assert_int_equal(bl_reg_lock(&r, 1000, 0, &err), 0);
    bl_reg_remove_all(&r);
    close(go);
}

/* The owner removes the registry while we wait on its lock file: we must
 * end up owning a lock file that exists, not the unlinked one. */
static void test_lock_survives_removal(void **state)
{
    (void)state;
    bl_reg r;
    bl_err err;
    bl_reg_init(&r, regdir, &err);
    int go;
    pid_t c = locker(&go, true);
    pid_t w = fork();
    if (w == 0) {
        bl_reg mine;
        bl_reg_init(&mine, regdir, &err);
        if (bl_reg_lock(&mine, 5000, 0, &err) < 0)
            _exit(1);
        char p[600];
        struct stat a, b;
        snprintf(p, sizeof p, "%s/lock", regdir);
        bool same = fstat(mine.lock_fd, &a) == 0 && stat(p, &b) == 0 && a.st_ino == b.st_ino;
        /* while we own it, nobody else may */
        bl_reg other;
        bl_reg_init(&other, regdir, &err);
        int t = bl_reg_trylock(&other, &err);
        _exit(same && t == 0 ? 0 : 2);
    }
    usleep(50000); /* w is waiting on the old file */
    assert_int_equal(write(go, "x", 1), 1);
    int st;
    waitpid(c, NULL, 0);
    waitpid(w, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(go);
}

/* ---- bl_join with a pretend daemon: a file naming the process that "serves" --- */

typedef struct fake {
    char daemon[600], starts[600];
    int start_ms;
    bool fail;
} fake;

static int fake_probe(void *arg, bl_err *err)
{
    (void)err;
    fake *f = arg;
    return access(f->daemon, F_OK) == 0;
}

static int fake_start(void *arg, bl_err *err)
{
    fake *f = arg;
    int fd = open(f->starts, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
        if (write(fd, line, (size_t)n) != n)
            n = 0;
        close(fd);
    }
    usleep((useconds_t)f->start_ms * 1000); /* a daemon takes a while to mount */
    if (f->fail)
        return bl_fail(err, "mounting failed: boom from %d", (int)getpid());
    fd = open(f->daemon, O_WRONLY | O_CREAT, 0600);
    close(fd);
    return 0;
}

static int count_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    int n = 0, c;
    while ((c = fgetc(fp)) != EOF)
        n += c == '\n';
    fclose(fp);
    return n;
}

/* n children wait on one pipe and all call bl_join when it closes; each
 * exits 0 joined, 1 started, 3 failed with the message of the first start. */
static void join_race(fake *f, int n, int *joined, int *started, int *failed)
{
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t kids[32];
    char first_fail[64];
    for (int i = 0; i < n; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(gate[1]);
            char c;
            if (read(gate[0], &c, 1) != 0)
                _exit(9);
            bl_reg r;
            bl_err err;
            bl_reg_init(&r, regdir, &err);
            bl_join_opts o = {.holder = getpid(), .lock_timeout_ms = 10000};
            bl_join_ops ops = {.probe = fake_probe, .start = fake_start, .arg = f};
            int j = bl_join(&r, &o, &ops, &err);
            if (j < 0)
                _exit(strstr(err.msg, "boom from") ? 3 : 4);
            _exit(j == BL_JOIN_STARTED ? 1 : 0);
        }
    }
    (void)first_fail;
    close(gate[0]);
    usleep(20000);
    close(gate[1]); /* every child wakes at once */
    *joined = *started = *failed = 0;
    for (int i = 0; i < n; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        assert_true(WIFEXITED(st));
        int code = WEXITSTATUS(st);
        assert_true(code <= 3);
        *joined += code == 0;
        *started += code == 1;
        *failed += code == 3;
    }
}

static void test_join_race_one_start(void **state)
{
    (void)state;
    fake f = {.start_ms = 50};
    snprintf(f.daemon, sizeof f.daemon, "%s/daemon", tmp);
    snprintf(f.starts, sizeof f.starts, "%s/starts", tmp);
    int joined, started, failed;
    join_race(&f, 8, &joined, &started, &failed);
    assert_int_equal(started, 1);
    assert_int_equal(joined, 7);
    assert_int_equal(count_lines(f.starts), 1);
    /* every child registered itself and exited: all stale now */
    bl_reg r;
    bl_err err;
    bl_reg_init(&r, regdir, &err);
    assert_int_equal(bl_reg_holders(&r, NULL, 0), 0);
}

static void test_join_failure_reported_once(void **state)
{
    (void)state;
    fake f = {.start_ms = 100, .fail = true};
    snprintf(f.daemon, sizeof f.daemon, "%s/daemon", tmp);
    snprintf(f.starts, sizeof f.starts, "%s/starts", tmp);
    int joined, started, failed;
    join_race(&f, 6, &joined, &started, &failed);
    assert_int_equal(failed, 6);
    assert_int_equal(count_lines(f.starts), 1); /* the waiters did not try again */
    assert_int_equal(access(regdir, F_OK), -1); /* nobody holds it: removed */
    /* a later rank is not bound by an old failure: it tries, and succeeds */
    f.fail = false;
    bl_reg r;
    bl_err err;
    bl_reg_init(&r, regdir, &err);
    bl_join_opts o = {.holder = getpid(), .keep = true, .lock_timeout_ms = 1000};
    bl_join_ops ops = {.probe = fake_probe, .start = fake_start, .arg = &f};
    assert_int_equal(bl_join(&r, &o, &ops, &err), BL_JOIN_STARTED);
    assert_int_equal(count_lines(f.starts), 2);
    assert_true(exists("keep"));
    assert_int_equal(bl_join(&r, &o, &ops, &err), BL_JOIN_JOINED);
    assert_int_equal(bl_reg_holders(&r, NULL, 0), 1);
    bl_join_leave(&r, getpid());
    assert_int_equal(bl_reg_holders(&r, NULL, 0), 0);
}

static int probe_other(void *arg, bl_err *err)
{
    (void)arg;
    return bl_fail(err, "served by another set");
}

static void test_join_probe_conflict(void **state)
{
    (void)state;
    fake f = {0};
    snprintf(f.starts, sizeof f.starts, "%s/starts", tmp);
    bl_reg r;
    bl_err err;
    bl_reg_init(&r, regdir, &err);
    bl_join_opts o = {.holder = getpid(), .lock_timeout_ms = 1000};
    bl_join_ops ops = {.probe = probe_other, .start = fake_start, .arg = &f};
    assert_int_equal(bl_join(&r, &o, &ops, &err), -1);
    assert_string_equal(err.msg, "served by another set");
    assert_int_equal(count_lines(f.starts), 0);
    assert_int_equal(access(regdir, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_time, setup, teardown),
        cmocka_unit_test(test_holder_names),
        cmocka_unit_test_setup_teardown(test_holders_and_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_between_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_survives_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_race_one_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_failure_reported_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_probe_conflict, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
