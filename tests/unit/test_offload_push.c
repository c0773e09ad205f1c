/* Unit tests for the offload manager and puller (offload/push.h,
 * offload/pull.h, over offload/dpset.h) against real depots
 * (offload/depot.h) on loopback, each depot in a child process of its own
 * so that one can be killed: round trips (files of odd lengths, an empty
 * one, replicas), a wrong key, a depot that cannot be reached, a depot with
 * little room, too few depots for the replicas, a chunk altered on a depot,
 * and pulls with one and with two depots gone; and the probe (offload/probe.h)
 * plan --probe and push measure depots with: room, rate, the reason when down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include "core/evloop.h"
#include "core/log.h"
#include "offload/depot.h"
#include "offload/manifest.h"
#include "offload/probe.h"
#include "offload/pull.h"
#include "offload/push.h"

#define MAXD 6

static char dir[256];
static pid_t pids[MAXD];
static char names[MAXD][64];
static const char *namep[MAXD];
static bl_okey key, other;

static void on_term(bl_loop *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    bl_loop_stop(loop);
}

/* Depot i in a child process on 127.0.0.1 (a port of its own). */
static void start_depot(int i, uint64_t capacity)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        bl_err err;
        bl_loop *loop = bl_loop_new(&err);
        char store[300];
        snprintf(store, sizeof store, "%s/store%d", dir, i);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bl_depot *d = loop ? bl_depot_new(loop, store, capacity, &key, (struct sockaddr *)&sa, sizeof sa, &err)
                           : NULL;
        if (!d || bl_loop_signal(loop, SIGTERM, on_term, NULL, &err) < 0)
            _exit(1);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        bl_depot_addr(d, &ss, &sl);
        uint16_t port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (write(fd[1], &port, sizeof port) != sizeof port)
            _exit(1);
        close(fd[1]);
        bl_loop_run(loop);
        bl_depot_free(d);
        bl_loop_free(loop);
        _exit(0);
    }
    close(fd[1]);
    uint16_t port = 0;
    assert_int_equal(read(fd[0], &port, sizeof port), sizeof port);
    close(fd[0]);
    pids[i] = pid;
    snprintf(names[i], sizeof names[i], "127.0.0.1:%u", port);
    namep[i] = names[i];
}

static void stop_depot(int i)
{
    if (pids[i] <= 0)
        return;
    kill(pids[i], SIGKILL);
    waitpid(pids[i], NULL, 0);
    pids[i] = 0;
}

static void write_file(const char *name, size_t len, unsigned seed)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    srand(seed);
    for (size_t i = 0; i < len; i++)
        fputc(rand() & 0xff, f);
    assert_int_equal(fclose(f), 0);
}

static int same_files(const char *a, const char *b)
{
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    int same = x && y;
    while (same) {
        int c = fgetc(x), d = fgetc(y);
        if (c != d)
            same = 0;
        if (c == EOF || d == EOF)
            break;
    }
    if (x)
        fclose(x);
    if (y)
        fclose(y);
    return same;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_offload_push.XXXXXX");
    assert_non_null(mkdtemp(dir));
    memset(&key, 0, sizeof key);
    memcpy(key.bytes, "0123456789abcdef0123456789abcdef", 32);
    key.len = 32;
    other = key;
    other.bytes[0] ^= 1;
    write_file("a.dat", 100000, 1);     /* not a multiple of the chunk */
    write_file("b.dat", 4096, 2);
    write_file("empty", 0, 3);
    write_file("c.dat", 33333, 4);
    bl_log_set_level(BL_LOG_ERROR);
    return 0;
}

static int teardown_depots(void **state)
{
    (void)state;
    for (int i = 0; i < MAXD; i++)
        stop_depot(i);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s/store* %s/out* %s/*.manifest", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int teardown(void **state)
{
    teardown_depots(state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static bl_push_opts opts(const char **files, size_t nfiles, size_t ndepots, const uint64_t *caps,
                         const char *manifest)
{
    static char mpath[400];
    snprintf(mpath, sizeof mpath, "%s/%s", dir, manifest);
    return (bl_push_opts){.files = files, .nfiles = nfiles, .depots = namep, .capacity = caps,
                          .ndepots = ndepots, .k = 4, .m = 5, .replicas = 1, .chunk = 4096,
                          .key = &key, .manifest = mpath, .timeout_ms = 3000};
}

static const char *files[4];
static char fpaths[4][400];
static void file_list(void)
{
    const char *n[] = {"a.dat", "b.dat", "empty", "c.dat"};
    for (int i = 0; i < 4; i++) {
        snprintf(fpaths[i], sizeof fpaths[i], "%s/%s", dir, n[i]);
        files[i] = fpaths[i];
    }
}

static void pull_and_compare(const char *manifest, const char *out, int expect_ok, bl_pull_report *rep,
                             bl_err *err)
{
    char mpath[400], opath[400];
    snprintf(mpath, sizeof mpath, "%s/%s", dir, manifest);
    snprintf(opath, sizeof opath, "%s/%s", dir, out);
    mkdir(opath, 0755);
    bl_manifest mf;
    assert_int_equal(bl_mf_load(mpath, &key, &mf, err), 0);
    int rc = bl_pull_run(&mf, opath, 3000, rep, err);
    if (expect_ok) {
        assert_int_equal(rc, 0);
        for (size_t i = 0; i < mf.nfiles; i++) {
            char a[600], b[600];
            snprintf(a, sizeof a, "%s/%s", dir, mf.files[i].name);
            snprintf(b, sizeof b, "%s/%s", opath, mf.files[i].name);
            assert_true(same_files(a, b));
        }
    } else {
        assert_int_equal(rc, -1);
        DIR *d = opendir(opath);
        struct dirent *e;
        while ((e = readdir(d)))     /* nothing left behind */
            assert_true(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."));
        closedir(d);
    }
    bl_mf_free(&mf);
}

static void test_round_trip(void **state)
{
    (void)state;
    file_list();
    uint64_t caps[MAXD] = {0};
    for (int i = 0; i < 5; i++)
        start_depot(i, 64u << 20);
    bl_push_opts o = opts(files, 4, 5, caps, "rt.manifest");
    bl_push_result res;
    bl_err err;
    assert_int_equal(bl_push_run(&o, &res, &err), 0);
    assert_int_equal(res.bytes, 100000 + 4096 + 33333);
    assert_int_equal(res.depots_used, 5);
    assert_int_equal(res.depots_down, 0);
    assert_true(res.survives_one);
    /* 137429 bytes: 9 stripes of 4 x 4096, 45 chunks */
    assert_int_equal(res.sent, 45 * 4096);
    bl_manifest mf;
    assert_int_equal(bl_mf_load(o.manifest, &key, &mf, &err), 0);
    assert_int_equal(mf.nstripes, 9);
    assert_int_equal(mf.nfiles, 4);
    for (uint64_t c = 0; c < mf.nstripes * mf.m; c++)
        assert_int_equal(mf.chunks[c].nat, 1);
    bl_pull_report rep;
    assert_int_equal(bl_pull_status(&mf, 3000, &rep, &err), 0);
    assert_int_equal(rep.short_stripes, 0);
    for (size_t d = 0; d < 5; d++) {
        assert_true(rep.depot[d].up);
        assert_int_equal(rep.depot[d].held, rep.depot[d].listed);
    }
    for (uint64_t s = 0; s < mf.nstripes; s++)
        assert_int_equal(rep.reachable[s], 5);
    bl_pull_report_free(&rep);
    bl_mf_free(&mf);
    pull_and_compare("rt.manifest", "out1", 1, &rep, &err);
    bl_pull_report_free(&rep);

    /* one depot gone: still whole; two gone: not recoverable, nothing written */
    stop_depot(2);
    pull_and_compare("rt.manifest", "out2", 1, &rep, &err);
    assert_false(rep.depot[2].up);
    bl_pull_report_free(&rep);
    stop_depot(4);
    pull_and_compare("rt.manifest", "out3", 0, &rep, &err);
    assert_non_null(strstr(err.msg, "not recoverable"));
    assert_non_null(strstr(err.msg, names[2]));
    assert_non_null(strstr(err.msg, names[4]));
    bl_pull_report_free(&rep);
}

static void test_replicas_and_loss(void **state)
{
    (void)state;
    file_list();
    uint64_t caps[MAXD] = {0};
    for (int i = 0; i < 6; i++)
        start_depot(i, 64u << 20);
    bl_push_opts o = opts(files, 4, 6, caps, "rep.manifest");
    o.k = 2;
    o.m = 3;
    o.replicas = 2;
    bl_push_result res;
    bl_err err;
    assert_int_equal(bl_push_run(&o, &res, &err), 0);
    assert_true(res.survives_one);
    bl_manifest mf;
    assert_int_equal(bl_mf_load(o.manifest, &key, &mf, &err), 0);
    for (uint64_t c = 0; c < mf.nstripes * mf.m; c++) {
        assert_int_equal(mf.chunks[c].nat, 2);
        assert_int_not_equal(mf.chunks[c].at[0], mf.chunks[c].at[1]);
    }
    bl_mf_free(&mf);
    /* two depots gone: every chunk still has a copy somewhere, or its stripe enough */
    stop_depot(0);
    stop_depot(3);
    bl_pull_report rep;
    pull_and_compare("rep.manifest", "out", 1, &rep, &err);
    bl_pull_report_free(&rep);
}

static void test_wrong_key(void **state)
{
    (void)state;
    file_list();
    uint64_t caps[MAXD] = {0};
    for (int i = 0; i < 2; i++)
        start_depot(i, 64u << 20);
    bl_push_opts o = opts(files, 2, 2, caps, "bad.manifest");
    o.key = &other;
    bl_push_result res;
    bl_err err;
    assert_int_equal(bl_push_run(&o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "authentication failed"));
    assert_int_equal(access(o.manifest, F_OK), -1);
}

static void test_unreachable_and_too_few(void **state)
{
    (void)state;
    file_list();
    uint64_t caps[MAXD] = {0};
    for (int i = 0; i < 5; i++)
        start_depot(i, 64u << 20);
    stop_depot(4);   /* its port is closed now */
    bl_push_opts o = opts(files, 4, 5, caps, "u.manifest");
    bl_push_result res;
    bl_err err;
    assert_int_equal(bl_push_run(&o, &res, &err), 0);
    assert_int_equal(res.depots_down, 1);
    assert_int_equal(res.depots_used, 4);
    assert_false(res.survives_one);   /* 4:5 on four depots */
    bl_pull_report rep;
    pull_and_compare("u.manifest", "out", 1, &rep, &err);
    bl_pull_report_free(&rep);

    o = opts(files, 4, 1, caps, "r.manifest");
    o.replicas = 2;
    assert_int_equal(bl_push_run(&o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "too few depots"));
}

static void test_little_room(void **state)
{
    (void)state;
    file_list();
    uint64_t caps[MAXD] = {0};
    for (int i = 0; i < 5; i++)
        start_depot(i, 64u << 20);
    start_depot(5, 3 * 4096);   /* room for three chunks */
    caps[1] = 2 * 4096;         /* and the user allows two on depot 1 */
    bl_push_opts o = opts(files, 4, 6, caps, "room.manifest");
    bl_push_result res;
    bl_err err;
    assert_int_equal(bl_push_run(&o, &res, &err), 0);
    bl_manifest mf;
    assert_int_equal(bl_mf_load(o.manifest, &key, &mf, &err), 0);
    unsigned on[MAXD] = {0};
    for (uint64_t c = 0; c < mf.nstripes * mf.m; c++)
        on[mf.chunks[c].at[0]]++;
    assert_true(on[5] <= 3);
    assert_true(on[1] <= 2);
    bl_mf_free(&mf);
    bl_pull_report rep;
    pull_and_compare("room.manifest", "out", 1, &rep, &err);
    bl_pull_report_free(&rep);
}

/* Rewrite chunk 0 on its depot with a header that matches the new bytes:
 * the depot serves it, the puller must catch it. */
static void test_altered_chunk(void **state)
{
    (void)state;
    file_list();
    uint64_t caps[MAXD] = {0};
    for (int i = 0; i < 5; i++)
        start_depot(i, 64u << 20);
    bl_push_opts o = opts(files, 4, 5, caps, "alt.manifest");
    bl_push_result res;
    bl_err err;
    assert_int_equal(bl_push_run(&o, &res, &err), 0);
    bl_manifest mf;
    assert_int_equal(bl_mf_load(o.manifest, &key, &mf, &err), 0);
    unsigned at = mf.chunks[0].at[0];
    char idhex[2 * BL_OFFLOAD_ID_LEN + 1];
    for (int i = 0; i < BL_OFFLOAD_ID_LEN; i++)
        snprintf(idhex + 2 * i, 3, "%02x", mf.id[i]);
    bl_mf_free(&mf);
    char p[600];
    snprintf(p, sizeof p, "%s/store%u/%s/0.chunk", dir, at, idhex);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t buf[BL_DEPOT_HDR + 4096];
    assert_int_equal(pread(fd, buf, sizeof buf, 0), sizeof buf);
    buf[BL_DEPOT_HDR + 7] ^= 0x5a;
    bl_sha256(buf + BL_DEPOT_HDR, 4096, buf + 8);
    assert_int_equal(pwrite(fd, buf, sizeof buf, 0), sizeof buf);
    close(fd);
    bl_pull_report rep;
    pull_and_compare("alt.manifest", "out", 1, &rep, &err);
    assert_int_equal(rep.depot[at].bad, 1);
    bl_pull_report_free(&rep);
}

static void test_probe(void **state)
{
    (void)state;
    file_list();
    start_depot(0, 64u << 20);
    start_depot(1, 1u << 20);
    start_depot(2, 64u << 20);
    stop_depot(2);   /* its port is closed now */
    bl_probe_result pr[3];
    bl_err err;
    assert_int_equal(bl_probe_depots(namep, 3, &key, 3000, pr, &err), 0);
    assert_true(pr[0].up);
    assert_true(pr[1].up);
    assert_false(pr[2].up);
    assert_non_null(strstr(pr[2].why, "refused"));
    assert_true(pr[0].rate > 0 && pr[1].rate > 0);
    assert_true(pr[0].free_bytes > (1u << 20) && pr[0].free_bytes <= (64u << 20));
    assert_true(pr[1].free_bytes <= (1u << 20));
    uint64_t before = pr[0].free_bytes;

    /* what a push stores there is no longer free */
    uint64_t caps[MAXD] = {0};
    bl_push_opts o = opts(files, 4, 1, caps, "p.manifest");
    o.k = o.m = 1;
    bl_push_result res;
    assert_int_equal(bl_push_run(&o, &res, &err), 0);
    assert_int_equal(bl_probe_depots(namep, 1, &key, 3000, pr, &err), 0);
    assert_true(pr[0].up);
    assert_true(pr[0].free_bytes + res.sent <= before);

    /* a depot answers only a holder of its key */
    assert_int_equal(bl_probe_depots(namep, 2, &other, 3000, pr, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_false(pr[i].up);
        assert_non_null(strstr(pr[i].why, "authentication failed"));
    }
    assert_int_equal(bl_probe_depots(namep, 0, &key, 3000, pr, &err), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_round_trip, teardown_depots),
        cmocka_unit_test_teardown(test_replicas_and_loss, teardown_depots),
        cmocka_unit_test_teardown(test_wrong_key, teardown_depots),
        cmocka_unit_test_teardown(test_unreachable_and_too_few, teardown_depots),
        cmocka_unit_test_teardown(test_little_room, teardown_depots),
        cmocka_unit_test_teardown(test_altered_chunk, teardown_depots),
        cmocka_unit_test_teardown(test_probe, teardown_depots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
