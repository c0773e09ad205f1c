/* bitlib run: run one rank of a job with the set mounted on its node.
 *
 * The steps are separate functions so another front end (a daemon without
 * FUSE, bitlib run --no-fuse) can replace one and keep the rest:
 *   run_join      start the node's daemon or join the one serving (launch/join.h)
 *   run_wait      wait until the daemon is ready for the program (hybrid: the
 *                 prefetch list is local)
 *   run_environ   the program's environment (launch/env.h)
 *   run_exec      exec the program: it keeps this process's PID, so the
 *                 launcher's signals reach it, its exit status is the rank's,
 *                 and the daemon sees it exit through the pidfd it holds for
 *                 this PID (the registration made in run_join). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "fs/node.h"
#include "launch/env.h"
#include "launch/join.h"
#include "launch/mountd.h"
#include "launch/registry.h"

static const char run_usage[] =
    "usage: bitlib run [options] DESC -- CMD [ARGS...]\n"
    "\n"
    "Run CMD with the set DESC describes mounted on this node, once per rank: put it in\n"
    "front of the program on the launcher's line (srun bitlib run DESC -- ./app, mpiexec\n"
    "... bitlib run DESC -- ./app). The first rank on a node starts the node's mount daemon\n"
    "(bitlib mount); ranks starting at the same moment share that one daemon. Every rank\n"
    "waits until the mount works and, in hybrid mode, until the description's prefetch list\n"
    "is local, then executes CMD in its place (same PID: the launcher's signals reach CMD and\n"
    "CMD's exit status is the rank's). When the last rank using the mount on the node has\n"
    "exited, however it exited (SIGKILL included), the daemon unmounts and exits, unless\n"
    "--keep; the next job reuses a kept mount and its warm cache. A mount left by a daemon\n"
    "that was killed is detached and replaced by the next run.\n"
    "\n"
    "CMD's environment: LD_LIBRARY_PATH and PYTHONPATH point into the mount, at the\n"
    "directories the description records (bitlib create --env), else at those holding\n"
    "shared libraries (lib*.so*) and top-level Python packages; the caller's values follow.\n"
    "BITLIB_MOUNT is the mount point.\n"
    "\n"
    "options:\n"
    "  -m, --mode MODE         hybrid (default), file, bulk or block, for a daemon this\n"
    "                          run starts (see 'bitlib mount --help')\n"
    "      --mount PATH        the mount point (default: the description's recorded mount,\n"
    "                          else RUNDIR/mnt-<16 hex digits of the info-hash>)\n"
    "  -c, --cache DIR         the daemon's cache directory (default: bitlib mount's; with\n"
    "                          $BITLIB_RUNTIME_DIR set, caches/<info-hash> in it)\n"
    "      --keep              leave the mount after the last rank has exited\n"
    "      --env NAME=DIR[:DIR...]\n"
    "                          set NAME to these directories (relative to the set's root,\n"
    "                          or absolute) instead of the recorded or detected ones;\n"
    "                          NAME= leaves NAME alone; repeatable\n"
    "      --timeout SEC       how long a rank waits for another rank that is starting\n"
    "                          the daemon (default 300)\n"
    "      --read-timeout SEC  the daemon's read timeout (default 60); also bounds the\n"
    "                          wait for each file of the prefetch list\n"
    "  -l, --listen ADDR:PORT  the daemon accepts peers here (default 0.0.0.0:0)\n"
    "  -p, --peer ADDR:PORT    the daemon connects to this peer (repeatable)\n"
    "      --no-tracker        the daemon does not announce to the trackers\n"
    "      --policy P          cooperative (default) or stock\n"
    CLI_SECRET_USAGE
    "      --trust PUB         refuse DESC unless signed by this key (KEY.pub) or by a\n"
    "                          key in this directory; repeatable. Default: the keys in\n"
    "                          /etc/bitlib/trusted.d/ ($BITLIB_TRUST_DIR) when present\n"
    "      --allow-other       let other users see the mount\n"
    "      --in-set            CMD is a path inside the set (e.g. bin/app): run it from\n"
    "                          the mount\n"
    "  -v, --verbose           say whether this rank started or joined the daemon\n"
    "  -h, --help              this text\n"
    "\n"
    "RUNDIR is /run/bitlib for root, else $XDG_RUNTIME_DIR/bitlib or /tmp/bitlib-<uid>\n"
    "(mode 0700; $BITLIB_RUNTIME_DIR overrides it). There each mount has its control socket\n"
    "<key>.sock, its log <key>.log and its registry <key>.run (lock, one file per rank).\n"
    "Without root the mount goes through fusermount3.\n"
    "\n"
    "Exit status: CMD's; 1 if the mount could not be had (one line says why), 2 for bad\n"
    "usage, 126 if CMD cannot be executed, 127 if it is not found.\n";

#define MAX_PASS 600 /* daemon options passed through */
#define MAX_ENV 64

typedef struct run_ctx {
    const char *desc;
    bl_metainfo mi;
    bl_mountd d;
    bl_reg reg;
    enum bl_fs_mode mode;
    bool keep, verbose, in_set;
    double timeout_s, read_timeout_s;
    const char *cache;
    const char *pass[MAX_PASS]; /* options for the daemon */
    size_t npass;
    const char *env[MAX_ENV];
    size_t nenv;
} run_ctx;

/* ---- step 1: start the daemon or join it --------------------------------------- */

static int probe_cb(void *arg, bl_err *err)
{
    run_ctx *r = arg;
    return bl_mountd_probe(&r->d, err);
}

static int start_cb(void *arg, bl_err *err)
{
    run_ctx *r = arg;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return bl_fail(err, "/proc/self/exe: %s", strerror(errno));
    self[n] = 0;
    char rt[32];
    snprintf(rt, sizeof rt, "%g", r->read_timeout_s);
    const char *argv[MAX_PASS + 32];
    size_t a = 0;
    argv[a++] = self;
    argv[a++] = "mount";
    argv[a++] = r->desc;
    argv[a++] = r->d.mountpoint;
    argv[a++] = "--mode";
    argv[a++] = bl_fs_mode_name(r->mode);
    argv[a++] = "--socket";
    argv[a++] = r->d.sock;
    argv[a++] = "--log";
    argv[a++] = r->d.log;
    argv[a++] = "--registry";
    argv[a++] = r->d.registry;
    argv[a++] = "--read-timeout";
    argv[a++] = rt;
    char cache[PATH_MAX];
    const char *cache_dir = r->cache, *emulated = getenv("BITLIB_RUNTIME_DIR");
    if (!cache_dir && emulated && emulated[0] == '/' &&
        snprintf(cache, sizeof cache, "%s/caches", emulated) < (int)sizeof cache &&
        (mkdir(cache, 0700) == 0 || errno == EEXIST) &&
        snprintf(cache, sizeof cache, "%s/caches/%s", emulated, r->d.info_hash) < (int)sizeof cache)
        cache_dir = cache; /* emulated nodes share one host: one cache root per node, which
                              `bitlib cache` looks in too */
    if (cache_dir) {
        argv[a++] = "--cache";
        argv[a++] = cache_dir;
    }
    for (size_t i = 0; i < r->npass; i++)
        argv[a++] = r->pass[i];
    argv[a] = NULL;
    if (bl_mountd_spawn((char *const *)(uintptr_t)argv, err) < 0)
        return -1;
    bl_err e;
    if (bl_mountd_probe(&r->d, &e) <= 0)
        return bl_fail(err, "the mount daemon started but does not answer on %s: %s", r->d.sock,
                       e.msg);
    return 0;
}

static int run_join(run_ctx *r, bl_err *err)
{
    bl_join_opts o = {.holder = getpid(), .keep = r->keep,
                      .lock_timeout_ms = (int)(r->timeout_s * 1000)};
    bl_join_ops ops = {.probe = probe_cb, .start = start_cb, .arg = r};
    int j = bl_join(&r->reg, &o, &ops, err);
    if (j < 0)
        return -1;
    if (r->verbose)
        fprintf(stderr, "bitlib run: %s the mount daemon (pid %d) of %s\n",
                j == BL_JOIN_STARTED ? "started" : "joined", r->d.pid, r->d.mountpoint);
    return 0;
}

/* ---- step 2: wait until the mount is ready for the program ---------------------- */

static int run_wait(run_ctx *r, bl_err *err)
{
    if (strcmp(r->d.mode, "hybrid"))
        return 0;
    return bl_mountd_wait_prefetch(&r->d, &r->mi, (int)(r->read_timeout_s * 1000) + 10000, err);
}

/* ---- step 3: the program's environment ------------------------------------------ */

static int run_environ(run_ctx *r, const char *root, bl_err *err)
{
    char **vars;
    size_t n;
    if (bl_launch_env(&r->mi, root, r->env, r->nenv, &vars, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (putenv(vars[i]) != 0) { /* the environment owns them from here */
            bl_launch_env_free(vars + i, n - i);
            return bl_fail(err, "putenv: %s", strerror(errno));
        }
    free(vars);
    if (setenv("BITLIB_MOUNT", root, 1) < 0)
        return bl_fail(err, "setenv: %s", strerror(errno));
    return 0;
}

/* ---- step 4: become the program ------------------------------------------------- */

static int run_exec(char **argv)
{
    fflush(NULL);
    execvp(argv[0], argv);
    int e = errno;
    fprintf(stderr, "bitlib run: %s: %s\n", argv[0], strerror(e));
    return e == ENOENT ? 127 : 126;
}

/* ---- options ----------------------------------------------------------------------- */

static int seconds(const char *opt, const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x > 0 && x <= 86400)) {
        fprintf(stderr, "bitlib run: %s '%s': seconds, more than 0 and at most 86400\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int pass(run_ctx *r, const char *opt, const char *arg)
{
    if (r->npass + 2 > MAX_PASS) {
        fprintf(stderr, "bitlib run: too many daemon options\n");
        return -1;
    }
    r->pass[r->npass++] = opt;
    if (arg)
        r->pass[r->npass++] = arg;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"mount", required_argument, NULL, 'M'},
        {"cache", required_argument, NULL, 'c'},
        {"keep", no_argument, NULL, 'K'},
        {"env", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"read-timeout", required_argument, NULL, 'R'},
        {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},
        {"no-tracker", no_argument, NULL, 'T'},
        {"policy", required_argument, NULL, 'P'},
        {"trust", required_argument, NULL, CLI_OPT_TRUST},
        {"secret-file", required_argument, NULL, CLI_OPT_SECRET},
        {"allow-stock", no_argument, NULL, CLI_OPT_ALLOW_STOCK},
        {"allow-other", no_argument, NULL, 'A'},
        {"in-set", no_argument, NULL, 'I'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib run";
    if (cli_wants_help(argc, argv)) {
        fputs(run_usage, stdout);
        return 0;
    }
    static run_ctx r;
    memset(&r, 0, sizeof r);
    r.mode = BL_FS_HYBRID;
    r.timeout_s = 300;
    r.read_timeout_s = 60;
    const char *mount = NULL;
    cli_peers po;
    cli_peers_init(&po, "0.0.0.0:0");
    cli_trust to = {.n = 0};
    int c;
    opterr = 0;
    /* '+': stop at the first non-option, so CMD's own options are never ours */
    while ((c = getopt_long(argc, argv, "+m:c:l:p:vh", longopts, NULL)) != -1) {
        int shared = cli_peers_option(&po, c, optarg, cmd); /* validates them */
        if (shared < 0)
            return 2;
        if (shared) {
            const char *name = c == 'l' ? "--listen" : c == 'p' ? "--peer"
                             : c == 'T' ? "--no-tracker" : c == CLI_OPT_SECRET ? "--secret-file"
                             : c == CLI_OPT_ALLOW_STOCK ? "--allow-stock" : "--policy";
            bool flag = c == 'T' || c == CLI_OPT_ALLOW_STOCK;
            if (pass(&r, name, flag ? NULL : optarg) < 0)
                return 2;
            continue;
        }
        switch (c) {
        case 'm':
            if (bl_fs_mode_parse(optarg, &r.mode) < 0) {
                fprintf(stderr, "%s: --mode '%s': hybrid, file, bulk or block\n", cmd, optarg);
                return 2;
            }
            break;
        case 'M': mount = optarg; break;
        case CLI_OPT_TRUST:
            /* checked here, and again by a daemon this run starts */
            if (cli_trust_option(&to, optarg, cmd) < 0 || pass(&r, "--trust", optarg) < 0)
                return 2;
            break;
        case 'c': r.cache = optarg; break;
        case 'K': r.keep = true; break;
        case 'e':
            if (r.nenv == MAX_ENV) {
                fprintf(stderr, "%s: at most %d --env options\n", cmd, MAX_ENV);
                return 2;
            }
            r.env[r.nenv++] = optarg;
            break;
        case 't':
            if (seconds("--timeout", optarg, &r.timeout_s) < 0)
                return 2;
            break;
        case 'R':
            if (seconds("--read-timeout", optarg, &r.read_timeout_s) < 0)
                return 2;
            break;
        case 'A':
            if (pass(&r, "--allow-other", NULL) < 0)
                return 2;
            break;
        case 'v':
            r.verbose = true;
            break;
        case 'I':
            r.in_set = true;
            break;
        default:
            return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (cli_peers_check(&po, cmd) < 0)
        return 2;
    if (optind >= argc) {
        fprintf(stderr, "%s: needs DESC, then -- and the command; see '%s --help'\n", cmd, cmd);
        return 2;
    }
    r.desc = argv[optind++];
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    if (optind >= argc) {
        fprintf(stderr, "%s: no command after DESC; see '%s --help'\n", cmd, cmd);
        return 2;
    }
    char **prog = argv + optind;

    bl_err err = {.offset = 0};
    if (bl_metainfo_load(&r.mi, r.desc, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    /* before joining a daemon too: a rank never runs from an untrusted set */
    if (cli_trust_check(&to, &r.mi, r.desc, cmd) < 0) {
        bl_metainfo_free(&r.mi);
        return 1;
    }
    /* check the overrides before anything starts */
    char **probe_env;
    size_t probe_n;
    if (bl_launch_env(&r.mi, "/", r.env, r.nenv, &probe_env, &probe_n, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_metainfo_free(&r.mi);
        return 2;
    }
    bl_launch_env_free(probe_env, probe_n);
    if (bl_mountd_plan(&r.d, &r.mi, mount, &err) < 0 ||
        bl_reg_init(&r.reg, r.d.registry, &err) < 0 || run_join(&r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_metainfo_free(&r.mi);
        return 1;
    }
    if (run_wait(&r, &err) < 0 || run_environ(&r, r.d.mountpoint, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_join_leave(&r.reg, getpid());
        bl_metainfo_free(&r.mi);
        return 1;
    }
    bl_metainfo_free(&r.mi);
    char inset[PATH_MAX];
    if (r.in_set) {
        const char *rel = prog[0];
        while (*rel == '/')
            rel++;
        if (snprintf(inset, sizeof inset, "%s/%s", r.d.mountpoint, rel) >= (int)sizeof inset) {
            fprintf(stderr, "%s: %s: path too long\n", cmd, prog[0]);
            return 1;
        }
        prog[0] = inset;
    }
    return run_exec(prog);
}
