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
#include "fs/ctlreq.h"
#include "fs/tree.h"

#include <sys/stat.h>

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
    "      --no-fuse           no FUSE mount: the daemon keeps the set's tree in its cache\n"
    "                          and CMD loads libraries through the LD_AUDIT library (below)\n"
    "      --no-elf-readahead  the daemon does not fetch ahead the libraries an opened ELF\n"
    "                          object needs (see 'bitlib mount --help')\n"
    "      --learn TRACE       the daemon keeps the order in which the job first opens the\n"
    "                          set's files in TRACE (%h: the host name), for 'bitlib\n"
    "                          prefetch learn'.  Only a daemon this rank starts gets it:\n"
    "                          one already running is told nothing\n"
    "      --wait-all          before CMD starts, wait until every file of the set is local\n"
    "                          (with --no-fuse: in the tree)\n"
    "  -v, --verbose           say whether this rank started or joined the daemon\n"
    "  -h, --help              this text\n"
    "\n"
    "RUNDIR is /run/bitlib for root, else $XDG_RUNTIME_DIR/bitlib or /tmp/bitlib-<uid>\n"
    "(mode 0700; $BITLIB_RUNTIME_DIR overrides it). There each mount has its control socket\n"
    "<key>.sock, its log <key>.log and its registry <key>.run (lock, one file per rank).\n"
    "Without root the mount goes through fusermount3.\n"
    "\n"
    "Without FUSE (--no-fuse): the node's daemon is 'bitlib mount --no-fuse' (one per node\n"
    "as above; a FUSE daemon already serving the mount point is refused, and the other way\n"
    "round). It keeps the set's tree as ordinary files in its cache, each file appearing\n"
    "once it is complete and verified. CMD runs with LD_AUDIT=libbitlib-audit.so (found\n"
    "beside this binary, or in ../lib/bitlib; $BITLIB_AUDIT_LIB overrides; a caller's\n"
    "LD_AUDIT follows ours, LD_PRELOAD is left as it is) and LD_LIBRARY_PATH under the mount\n"
    "point as if the set were mounted there: every library the loader looks for under the\n"
    "mount point or the tree is answered from the set's names (a name the set does not hold\n"
    "is skipped without touching any file system), fetched on demand (dlopen of files not\n"
    "on the prefetch list included) and loaded from the tree; paths outside the set pass\n"
    "through. If the daemon is gone or does not answer within the read timeout plus 10 s,\n"
    "that load fails with one line naming the file. A CMD under the mount point (or\n"
    "--in-set) is fetched and run from the tree. Python opens its modules itself, not\n"
    "through the loader: PYTHONPATH (and every other variable but LD_LIBRARY_PATH) points\n"
    "into the tree, after the import hook's directory (python/ beside this binary, or\n"
    "../lib/bitlib/python; $BITLIB_PYTHON_HOOK overrides): its sitecustomize.py puts a\n"
    "finder first on sys.meta_path which, for a module under the tree, asks the daemon for\n"
    "the file the standard finder would open (and its __pycache__ .pyc if the set has one)\n"
    "and waits, then lets the standard finder load it (writing no .pyc into the tree);\n"
    "extension modules then load through the audit library. A PYTHONPATH directory under\n"
    "the mount point is taken as the same place in the tree. Modules outside the set are\n"
    "untouched; a daemon gone or silent past the timeout gives an ImportError naming the\n"
    "file. python -S, -I or -E does not load the hook (use --wait-all). A sitecustomize of\n"
    "the system or of the rest of PYTHONPATH still runs after the hook's. The hook waits\n"
    "for modules only: package data and directory listings are like any other file.\n"
    "Any other file under the set that CMD opens is in the tree only once it is\n"
    "local: hybrid and bulk bring everything in the background, file mode only what is\n"
    "asked for; --wait-all waits for the whole set first. The loader ignores LD_AUDIT for\n"
    "set-user-ID and set-group-ID programs: they cannot load the set's libraries this way.\n"
    "BITLIB_MOUNT is the mount point, BITLIB_TREE the tree.\n"
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
    bool keep, verbose, in_set, no_fuse, wait_all;
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
    if (r->no_fuse)
        argv[a++] = "--no-fuse";
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
    bool tree = !strcmp(r->d.front, "tree");
    if (tree != r->no_fuse) {
        bl_join_leave(&r->reg, getpid());
        return bl_fail(err, "%s is served by a daemon (pid %d) %s; %s", r->d.mountpoint,
                       r->d.pid, tree ? "without FUSE (bitlib mount --no-fuse)" : "with a FUSE mount",
                       tree ? "add --no-fuse, or stop it" : "run without --no-fuse, or stop it");
    }
    if (r->verbose)
        fprintf(stderr, "bitlib run: %s the mount daemon (pid %d) of %s\n",
                j == BL_JOIN_STARTED ? "started" : "joined", r->d.pid, r->d.mountpoint);
    return 0;
}

/* ---- step 2: wait until the mount is ready for the program ---------------------- */

static int wait_ms(const run_ctx *r) { return (int)(r->read_timeout_s * 1000) + 10000; }

/* Every regular file of the set under set-relative dir ("" is the root). */
static int wait_under(run_ctx *r, const char *dir, const char *what, bl_err *err)
{
    size_t dn = strlen(dir);
    const char **v = malloc((r->mi.num_entries ? r->mi.num_entries : 1) * sizeof *v);
    if (!v)
        return bl_fail(err, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < r->mi.num_entries; i++) {
        const bl_mentry *e = &r->mi.entries[i];
        if (S_ISREG(e->mode) && (dn == 0 || (!strncmp(e->path, dir, dn) && e->path[dn] == '/')))
            v[n++] = e->path;
    }
    int rc = bl_mountd_wait_files(&r->d, v, n, what, wait_ms(r), err);
    free(v);
    return rc;
}

static int run_wait(run_ctx *r, bl_err *err)
{
    if (r->wait_all)
        return wait_under(r, "", "the whole set", err);
    if (strcmp(r->d.mode, "hybrid"))
        return 0;
    return bl_mountd_wait_prefetch(&r->d, &r->mi, wait_ms(r), err);
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

/* ---- without FUSE: the audit library and the tree -------------------------------- */

/* The directory this binary is in: what is installed beside it is found from there. */
static int exe_dir(char dir[PATH_MAX], bl_err *err)
{
    ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX - 1);
    if (n <= 0)
        return bl_fail(err, "/proc/self/exe: %s", strerror(errno));
    dir[n] = 0;
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    return 0;
}

static int find_audit_lib(char *out, size_t outsz, bl_err *err)
{
    const char *forced = getenv("BITLIB_AUDIT_LIB");
    if (forced && *forced) {
        if (access(forced, R_OK) < 0)
            return bl_fail(err, "BITLIB_AUDIT_LIB=%s: %s", forced, strerror(errno));
        snprintf(out, outsz, "%s", forced);
        return 0;
    }
    char self[PATH_MAX];
    if (exe_dir(self, err) < 0)
        return -1;
    static const char *const rel[] = {"/libbitlib-audit.so", "/../lib/bitlib/libbitlib-audit.so"};
    for (int i = 0; i < 2; i++) {
        int w = snprintf(out, outsz, "%s%s", self, rel[i]);
        if (w > 0 && (size_t)w < outsz && access(out, R_OK) == 0)
            return 0;
    }
    return bl_fail(err, "--no-fuse: libbitlib-audit.so is neither beside %s/bitlib nor in "
                        "%s/../lib/bitlib ('make' builds it, 'make install' installs it; or set "
                        "BITLIB_AUDIT_LIB)", self, self);
}

/* The Python import hook's directory (src/audit/python): beside this binary
 * as python/ (the build tree), or ../lib/bitlib/python (installed);
 * $BITLIB_PYTHON_HOOK overrides. */
static int find_python_hook(char *out, size_t outsz, bl_err *err)
{
    const char *forced = getenv("BITLIB_PYTHON_HOOK");
    char probe[PATH_MAX];
    if (forced && *forced) {
        if (snprintf(probe, sizeof probe, "%s/_bitlib_nofuse.py", forced) >= (int)sizeof probe ||
            access(probe, R_OK) < 0)
            return bl_fail(err, "BITLIB_PYTHON_HOOK=%s: no readable _bitlib_nofuse.py in it",
                           forced);
        snprintf(out, outsz, "%s", forced);
        return 0;
    }
    char self[PATH_MAX];
    if (exe_dir(self, err) < 0)
        return -1;
    static const char *const rel[] = {"/python", "/../lib/bitlib/python"};
    for (int i = 0; i < 2; i++) {
        int w = snprintf(out, outsz, "%s%s", self, rel[i]);
        if (w > 0 && (size_t)w < outsz &&
            snprintf(probe, sizeof probe, "%s/_bitlib_nofuse.py", out) < (int)sizeof probe &&
            access(probe, R_OK) == 0)
            return 0;
    }
    return bl_fail(err, "--no-fuse: the Python import hook (_bitlib_nofuse.py) is neither in "
                        "%s/python nor in %s/../lib/bitlib/python ('make' builds it, 'make "
                        "install' installs it; or set BITLIB_PYTHON_HOOK)", self, self);
}

/* PYTHONPATH=HOOK[:the rest]: Python imports from the tree wait for their files. */
static int prepend_python_hook(const char *hook, bl_err *err)
{
    const char *old = getenv("PYTHONPATH");
    size_t n = strlen(hook) + (old ? strlen(old) : 0) + 2;
    char *v = malloc(n);
    if (!v)
        return bl_fail(err, "out of memory");
    snprintf(v, n, "%s%s%s", hook, old && *old ? ":" : "", old && *old ? old : "");
    int rc = setenv("PYTHONPATH", v, 1);
    free(v);
    if (rc < 0)
        return bl_fail(err, "setenv PYTHONPATH: %s", strerror(errno));
    return 0;
}

static int set_env(const char *name, const char *value, bl_err *err)
{
    if (setenv(name, value, 1) < 0)
        return bl_fail(err, "setenv %s: %s", name, strerror(errno));
    return 0;
}

/* Every variable under the tree, LD_AUDIT, and what the audit library needs
 * to know.  LD_LIBRARY_PATH cannot name directories under the mount point:
 * glibc (2.35 and later) asks the audit library inside open_verify and,
 * when a candidate fails (any library the set does not hold, libc.so.6 the
 * first), stat()s the search directory itself and skips it for the rest of
 * the process if it does not exist.  The tree's directories exist; the
 * audit library answers for them as for the mount point. */
static int run_environ_nofuse(run_ctx *r, bl_err *err)
{
    char audit[PATH_MAX], index[PATH_MAX], dir[PATH_MAX], hook[PATH_MAX];
    if (!r->d.tree[0])
        return bl_fail(err, "the daemon (pid %d) names no tree", r->d.pid);
    if (find_audit_lib(audit, sizeof audit, err) < 0 ||
        find_python_hook(hook, sizeof hook, err) < 0)
        return -1;
    /* the tree's root is CACHE/.bitlib-tree, the index beside it */
    char cache[PATH_MAX];
    snprintf(cache, sizeof cache, "%s", r->d.tree);
    char *slash = strrchr(cache, '/');
    if (slash)
        *slash = 0;
    if (bl_tree_paths(cache, dir, sizeof dir, index, sizeof index, err) < 0)
        return -1;
    char **tv;
    size_t tn;
    if (bl_launch_env(&r->mi, r->d.tree, r->env, r->nenv, &tv, &tn, err) < 0)
        return -1;
    for (size_t i = 0; i < tn; i++)
        if (putenv(tv[i]) == 0)
            tv[i] = NULL; /* the environment owns it */
    for (size_t i = 0; i < tn; i++)
        free(tv[i]);
    free(tv);
    if (prepend_python_hook(hook, err) < 0)
        return -1;
    char tmo[32];
    snprintf(tmo, sizeof tmo, "%d", wait_ms(r));
    const char *old = getenv("LD_AUDIT");
    char la[2 * PATH_MAX + 2];
    if (old && *old)
        snprintf(la, sizeof la, "%s:%s", audit, old);
    else
        snprintf(la, sizeof la, "%s", audit);
    if (set_env("LD_AUDIT", la, err) < 0 || set_env("BITLIB_AUDIT_MOUNT", r->d.mountpoint, err) < 0 ||
        set_env("BITLIB_AUDIT_TREE", r->d.tree, err) < 0 ||
        set_env("BITLIB_AUDIT_INDEX", index, err) < 0 ||
        set_env("BITLIB_AUDIT_SOCKET", r->d.sock, err) < 0 ||
        set_env("BITLIB_AUDIT_TIMEOUT_MS", tmo, err) < 0 ||
        set_env("BITLIB_MOUNT", r->d.mountpoint, err) < 0 ||
        set_env("BITLIB_TREE", r->d.tree, err) < 0)
        return -1;
    return 0;
}

/* A CMD under the mount point runs from the tree, once it is there. */
static int nofuse_prog(run_ctx *r, char **prog, char *buf, size_t bufsz, bl_err *err)
{
    const char *p = prog[0];
    const char *roots[1] = {r->d.mountpoint};
    const char *rel = r->in_set ? p : p[0] == '/' ? bl_ctl_relative(p, roots, 1) : NULL;
    if (!rel)
        return 0;
    while (*rel == '/')
        rel++;
    if (bl_mountd_fetch_tree(&r->d, rel, wait_ms(r), buf, bufsz, err) < 0)
        return -1;
    struct stat st;
    if (stat(buf, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        fprintf(stderr, "bitlib run: %s is set-user/group-ID in the set; the copy in the tree "
                        "is not, and the loader would ignore LD_AUDIT for it anyway\n", p);
    prog[0] = buf;
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
        {"no-fuse", no_argument, NULL, 'N'},
        {"no-elf-readahead", no_argument, NULL, 'E'},
        {"learn", required_argument, NULL, 'Z'},
        {"wait-all", no_argument, NULL, 'W'},
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
        case 'N':
            r.no_fuse = true;
            break;
        case 'E':
            if (pass(&r, "--no-elf-readahead", NULL) < 0)
                return 2;
            break;
        case 'Z':
            if (pass(&r, "--learn", optarg) < 0)
                return 2;
            break;
        case 'W':
            r.wait_all = true;
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
    if (r.no_fuse && r.mode == BL_FS_BLOCK) {
        fprintf(stderr, "%s: --no-fuse: block mode needs FUSE; use file, hybrid or bulk\n", cmd);
        bl_metainfo_free(&r.mi);
        return 2;
    }
    char audit_probe[PATH_MAX];
    if (r.no_fuse && (find_audit_lib(audit_probe, sizeof audit_probe, &err) < 0 ||
                      find_python_hook(audit_probe, sizeof audit_probe, &err) < 0)) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_metainfo_free(&r.mi);
        return 1;
    }
    if ((r.no_fuse ? bl_mountd_plan_nofuse(&r.d, &r.mi, mount, &err)
                   : bl_mountd_plan(&r.d, &r.mi, mount, &err)) < 0 ||
        bl_reg_init(&r.reg, r.d.registry, &err) < 0 || run_join(&r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_metainfo_free(&r.mi);
        return 1;
    }
    if (run_wait(&r, &err) < 0 ||
        (r.no_fuse ? run_environ_nofuse(&r, &err) : run_environ(&r, r.d.mountpoint, &err)) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_join_leave(&r.reg, getpid());
        bl_metainfo_free(&r.mi);
        return 1;
    }
    char inset[PATH_MAX];
    if (r.no_fuse) {
        int rc = nofuse_prog(&r, prog, inset, sizeof inset, &err);
        bl_metainfo_free(&r.mi);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            bl_join_leave(&r.reg, getpid());
            return 1;
        }
        return run_exec(prog);
    }
    bl_metainfo_free(&r.mi);
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
