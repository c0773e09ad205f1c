/* bitlib mount: the node daemon (FUSE mount + swarm peer + control socket)
 * on one event loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/net.h"
#include "core/sha1.h"
#include "fs/cache.h"
#include "fs/ctl.h"
#include "fs/fusefs.h"
#include "fs/node.h"
#include "fs/tree.h"
#include "launch/watch.h"
#include "fs/users.h"

static const char mount_usage[] =
    "usage: bitlib mount [options] DESC [MOUNTPOINT]\n"
    "\n"
    "Mount the set DESC describes read-only on MOUNTPOINT (an empty directory; default: the\n"
    "mount point the description records, from 'bitlib create --mount') and fetch its\n"
    "data from peers as it is needed. Metadata (stat, lookup, readdir, readlink) comes from\n"
    "the description and never touches the network; data is verified piece by piece and\n"
    "kept in the cache directory. Without --foreground the daemon detaches once the mount\n"
    "works, so the mount can be used as soon as this command returns 0.\n"
    "\n"
    "modes (--mode):\n"
    "  hybrid  (default) the description's prefetch list at mount, then whole files as\n"
    "          they are opened; a read waits only for the pieces it covers\n"
    "  file    whole files as they are opened\n"
    "  bulk    everything, at mount\n"
    "  block   only the pieces reads touch (kernel read-ahead is off)\n"
    "\n"
    "options:\n"
    "  -m, --mode MODE         hybrid, file, bulk or block\n"
    "  -c, --cache DIR         cache directory (default /dev/shm/bitlib-<uid>/<info-hash>,\n"
    "                          private to the user); a cache that outlives the job makes the\n"
    "                          next mount start warm.  One daemon writes a cache at a time\n"
    "                          (it holds DIR/.bitlib-lock): a second mount of the same set\n"
    "                          gets a default cache of its own (<info-hash>.2, ...), and a\n"
    "                          --cache another daemon holds, or one this user cannot write,\n"
    "                          is refused\n"
    "      --read-timeout SEC  a read whose pieces stop arriving fails with EIO after SEC\n"
    "                          seconds (default 60)\n"
    "      --allow-other       let other users see the mount (FUSE allow_other)\n"
    "      --no-fuse           mount nothing: keep the set's tree as ordinary files in the\n"
    "                          cache (CACHE/.bitlib-tree), each file appearing (renamed into\n"
    "                          place) once it is complete and verified, with the\n"
    "                          description's modes, mtimes and symlinks; MOUNTPOINT need\n"
    "                          not exist and only names the set for the control socket\n"
    "                          and the LD_AUDIT library (see 'bitlib run --help'). hybrid\n"
    "                          and bulk bring every file in the background, file mode only\n"
    "                          what is asked for over the control socket (fetch PATH);\n"
    "                          block mode needs FUSE. The tree is a copy: the set takes\n"
    "                          twice its size in the cache\n"
    "      --no-elf-readahead  file and hybrid modes: do not fetch ahead what an opened ELF\n"
    "                          object needs.  By default, once a program or library opened\n"
    "                          from the set is local, the files of the set its DT_NEEDED\n"
    "                          entries resolve to (RPATH, the set's LD_LIBRARY_PATH,\n"
    "                          RUNPATH, $ORIGIN) are fetched below every reader's\n"
    "                          deadline, and theirs in turn, before the loader asks\n"
    "      --learn TRACE       keep the order in which applications first open the set's\n"
    "                          files in TRACE (one path per line; %h becomes the host\n"
    "                          name), rewritten at most once a second and at unmount;\n"
    "                          'bitlib prefetch learn' turns traces into a prefetch list\n"
    "  -f, --foreground        stay attached; log to stderr\n"
    "  -l, --listen ADDR:PORT  accept peers here (default 0.0.0.0:0, a free port)\n"
    "  -p, --peer ADDR:PORT    connect to this peer (repeatable)\n"
    "      --no-tracker        do not announce to the description's trackers\n"
    "      --policy P          cooperative (default) or stock\n"
    CLI_SECRET_USAGE
    "      --trust PUB         refuse DESC unless signed by this key (KEY.pub) or by a\n"
    "                          key in this directory; repeatable. Default: the keys in\n"
    "                          /etc/bitlib/trusted.d/ ($BITLIB_TRUST_DIR) when present\n"
    "      --socket PATH       control socket (default /run/bitlib/<key>.sock for root,\n"
    "                          see 'bitlib status --help')\n"
    "      --log FILE          where the detached daemon logs (default next to the socket,\n"
    "                          <key>.log)\n"
    "      --registry DIR      unmount and exit once the last process registered in DIR\n"
    "                          has exited (how 'bitlib run' shares one daemon between\n"
    "                          ranks; see src/launch/registry.h)\n"
    "  -v, --verbose           log debugging detail\n"
    "  -h, --help              this text\n"
    "\n"
    "      --stop-wait SEC     on SIGTERM/SIGINT, wait up to SEC seconds (default 30) for the\n"
    "                          processes using the mount to close its files\n"
    "\n"
    "Stop with SIGTERM or SIGINT: the daemon unmounts once no process uses the mount (no\n"
    "file open or mapped, no working directory in it), waiting up to --stop-wait and\n"
    "logging how many files are open; if they are still in use then, it stays mounted\n"
    "and serving (signal it again later).  A second signal while it waits detaches the\n"
    "mount at once (lazily: processes still using it then get ENOTCONN).  'fusermount3 -u'\n"
    "works too (it refuses a busy mount).\n";

typedef struct mnt {
    bl_loop *loop;
    bl_node *node;
    bl_fusefs *fs;
    bl_ctl *ctl;
    bl_reg_watch *holders;  /* --registry: leave with the last holder */
    bl_tree *tree;          /* --no-fuse: the tree instead of the mount */
    int ready_fd;          /* pipe to the waiting parent, -1 in the foreground */
    const char *log_path;
    const char *mountpoint;
    bool foreground;
    bool stopping;
    /* a polite stop (SIGTERM/SIGINT) waits for the mount's users */
    double stop_wait_s;
    uint64_t stop_since_ms;   /* 0: no stop asked for */
    pid_t umount_pid;         /* the child trying a non-lazy unmount */
    bool users_logged;
} mnt;

static void shutdown_all(mnt *m)
{
    if (m->stopping)
        return;
    m->stopping = true;
    bl_node_stop(m->node);   /* waiting reads get EIO before the mount goes */
    bl_fusefs_unmount(m->fs);
    m->fs = NULL;
    bl_loop_stop(m->loop);
}

static void try_unmount(mnt *m);

static void on_piece(void *arg, uint32_t piece)
{
    mnt *m = arg;
    if (m->tree)
        bl_tree_on_piece(m->tree, piece);
}

/* A detached daemon's log never grows without bound (core/log.h). */
#define LOG_CHECK_MS 10000
static void check_log(bl_loop *loop, void *arg)
{
    mnt *m = arg;
    bl_log_rotate_stderr(m->log_path);
    bl_loop_timer(loop, LOG_CHECK_MS, check_log, m);
}

static void users_line(mnt *m, char *out, size_t outsz)
{
    bl_mount_users u;
    bl_err err;
    if (bl_mount_users_count(m->mountpoint, &u, &err) < 0)
        snprintf(out, outsz, "in use");
    else
        bl_mount_users_text(&u, out, outsz);
}

static void retry_unmount(bl_loop *loop, void *arg)
{
    (void)loop;
    try_unmount(arg);
}

/* The non-lazy unmount attempt ended: gone, or still in use. */
static void poll_unmount(bl_loop *loop, void *arg)
{
    mnt *m = arg;
    if (m->stopping)
        return;
    int status;
    pid_t w = waitpid(m->umount_pid, &status, WNOHANG);
    if (w == 0) {
        bl_loop_timer(loop, 20, poll_unmount, m);
        return;
    }
    m->umount_pid = 0;
    if (w > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        bl_info("unmounted %s (nothing used it)", m->mountpoint);
        shutdown_all(m);
        return;
    }
    uint64_t now = bl_loop_now_ms(loop);
    char users[160];
    if (now - m->stop_since_ms >= (uint64_t)(m->stop_wait_s * 1000)) {
        users_line(m, users, sizeof users);
        bl_warn("%s is still in use after %.0f s (%s); staying mounted and serving: signal again "
                "once they are done, or twice to detach it anyway", m->mountpoint,
                m->stop_wait_s, users);
        m->stop_since_ms = 0;
        m->users_logged = false;
        return;
    }
    if (!m->users_logged) {
        users_line(m, users, sizeof users);
        bl_warn("%s is in use (%s); waiting up to %.0f s for them to finish before unmounting "
                "(signal again to detach it now: they would get ENOTCONN)", m->mountpoint, users,
                m->stop_wait_s);
        m->users_logged = true;
    }
    bl_loop_timer(loop, 250, retry_unmount, m);
}

static void try_unmount(mnt *m)
{
    if (m->stopping || !m->stop_since_ms)
        return;
    bl_err err;
    if (!m->fs || (m->umount_pid = bl_fusefs_unmount_if_idle(m->fs, &err)) < 0) {
        if (m->fs)
            bl_warn("cannot try a plain unmount (%s); detaching", err.msg);
        shutdown_all(m);
        return;
    }
    bl_loop_timer(m->loop, 20, poll_unmount, m);
}

static void on_signal(bl_loop *loop, int signo, void *arg)
{
    mnt *m = arg;
    if (m->stopping)
        return;
    if (m->stop_since_ms) {
        bl_warn("signal %d again: detaching %s now (processes still using it get ENOTCONN)",
                signo, m->mountpoint);
        shutdown_all(m);
        return;
    }
    bl_info("signal %d: unmounting %s once nothing uses it", signo, m->mountpoint);
    bl_loop_refresh_now(loop);
    m->stop_since_ms = bl_loop_now_ms(loop);
    if (!m->stop_since_ms)
        m->stop_since_ms = 1;
    m->users_logged = false;
    if (!m->umount_pid)
        try_unmount(m);
}

static void on_gone(void *arg)
{
    mnt *m = arg;
    bl_info("%s was unmounted; exiting", m->mountpoint);
    shutdown_all(m);
}

static void on_unused(void *arg)
{
    shutdown_all(arg);
}

static void on_ready(void *arg)
{
    mnt *m = arg;
    bl_info("%s is ready", m->mountpoint);
    if (m->ready_fd < 0)
        return;
    char ok = '0';
    ssize_t w = write(m->ready_fd, &ok, 1);
    (void)w;
    close(m->ready_fd);
    m->ready_fd = -1;
}

/* The detached daemon's stdio: stdin/stdout /dev/null, stderr (the log) to
 * log_path.  Done right after fork, so the caller's terminal and pipes are
 * never held; errors before the mount works travel back through the pipe. */
static void detach_stdio(int lfd)
{
    int nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nfd >= 0) {
        dup2(nfd, STDIN_FILENO);
        dup2(nfd, STDOUT_FILENO);
    }
    if (lfd >= 0)
        dup2(lfd, STDERR_FILENO);
    else if (nfd >= 0)
        dup2(nfd, STDERR_FILENO);
    if (lfd >= 0)
        close(lfd);
    if (nfd >= 0)
        close(nfd);
}

/* Parent side of daemonizing: wait until the child says the mount works
 * ('0'), or why it failed ('E' + message), or dies. */
static int wait_for_child(pid_t pid, int rfd, const char *log_path)
{
    char msg[600];
    size_t got = 0;
    struct pollfd pfd = {.fd = rfd, .events = POLLIN};
    int left_ms = 600 * 1000; /* a big warm cache is hashed before mounting */
    while (left_ms > 0) {
        int pr = poll(&pfd, 1, 1000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            left_ms -= 1000;
            continue;
        }
        ssize_t r = read(rfd, msg + got, sizeof msg - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0) {
            got += (size_t)r;
            if (msg[0] == '0')
                return 0;
            if (got < sizeof msg - 1)
                continue; /* the rest of the message */
        }
        msg[got] = 0;
        int status;
        waitpid(pid, &status, 0);
        if (got > 1 && msg[0] == 'E')
            fprintf(stderr, "bitlib mount: %s\n", msg + 1);
        else
            fprintf(stderr, "bitlib mount: the daemon died before the mount worked; see %s\n",
                    log_path);
        return 1;
    }
    fprintf(stderr, "bitlib mount: the daemon (pid %d) did not finish mounting in 600 s; "
                    "stopping it (log: %s)\n", (int)pid, log_path);
    kill(pid, SIGTERM);
    return 1;
}

/* --learn TRACE with %h replaced by this node's host name. */
static int learn_path(const char *arg, char *out, size_t outsz)
{
    char host[256];
    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "unknown-host");
    host[sizeof host - 1] = 0;
    size_t n = 0;
    for (const char *p = arg; *p; p++) {
        const char *add = p[0] == '%' && p[1] == 'h' ? host : NULL;
        size_t len = add ? strlen(add) : 1;
        if (n + len >= outsz)
            return -1;
        memcpy(out + n, add ? add : p, len);
        n += len;
        p += add ? 1 : 0;
    }
    out[n] = 0;
    return 0;
}

int cmd_mount(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"cache", required_argument, NULL, 'c'},
        {"read-timeout", required_argument, NULL, 'R'},
        {"allow-other", no_argument, NULL, 'A'},
        {"no-fuse", no_argument, NULL, 'N'},
        {"no-elf-readahead", no_argument, NULL, 'E'},
        {"learn", required_argument, NULL, 'Z'},
        {"foreground", no_argument, NULL, 'f'},
        {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},
        {"no-tracker", no_argument, NULL, 'T'},
        {"policy", required_argument, NULL, 'P'},
        {"trust", required_argument, NULL, CLI_OPT_TRUST},
        {"secret-file", required_argument, NULL, CLI_OPT_SECRET},
        {"allow-stock", no_argument, NULL, CLI_OPT_ALLOW_STOCK},
        {"socket", required_argument, NULL, 'S'},
        {"log", required_argument, NULL, 'L'},
        {"registry", required_argument, NULL, 'G'},
        {"stop-wait", required_argument, NULL, 'W'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib mount";
    enum bl_fs_mode mode = BL_FS_HYBRID;
    const char *cache = NULL, *sock = NULL, *log_path = NULL, *registry = NULL;
    cli_peers po;
    cli_peers_init(&po, "0.0.0.0:0");
    double read_timeout = 60, stop_wait = 30;
    bool allow_other = false, foreground = false, no_fuse = false, no_elf_readahead = false;
    char learn[PATH_MAX] = "";
    cli_trust to = {.n = 0};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:c:fl:p:vh", longopts, NULL)) != -1) {
        int shared = cli_peers_option(&po, c, optarg, cmd);
        if (shared < 0)
            return 2;
        if (shared)
            continue;
        switch (c) {
        case 'm':
            if (bl_fs_mode_parse(optarg, &mode) < 0) {
                fprintf(stderr, "%s: --mode '%s': hybrid, file, bulk or block\n", cmd, optarg);
                return 2;
            }
            break;
        case 'c': cache = optarg; break;
        case CLI_OPT_TRUST:
            if (cli_trust_option(&to, optarg, cmd) < 0)
                return 2;
            break;
        case 'W': {
            char *end;
            stop_wait = strtod(optarg, &end);
            if (*end || !(stop_wait >= 0 && stop_wait <= 86400)) {
                fprintf(stderr, "%s: --stop-wait '%s': seconds, 0 to 86400\n", cmd, optarg);
                return 2;
            }
            break;
        }
        case 'R': {
            char *end;
            read_timeout = strtod(optarg, &end);
            if (*end || !(read_timeout > 0 && read_timeout <= 86400)) {
                fprintf(stderr, "%s: --read-timeout '%s': seconds, more than 0 and at most "
                                "86400\n", cmd, optarg);
                return 2;
            }
            break;
        }
        case 'A': allow_other = true; break;
        case 'N': no_fuse = true; break;
        case 'E': no_elf_readahead = true; break;
        case 'Z':
            if (learn_path(optarg, learn, sizeof learn) < 0) {
                fprintf(stderr, "%s: --learn '%s': path too long\n", cmd, optarg);
                return 2;
            }
            break;
        case 'f': foreground = true; break;
        case 'S': sock = optarg; break;
        case 'L': log_path = optarg; break;
        case 'G': registry = optarg; break;
        case 'v': bl_log_set_level(BL_LOG_DEBUG); break;
        case 'h': fputs(mount_usage, stdout); return 0;
        default:
            return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (argc - optind != 2 && argc - optind != 1) {
        fprintf(stderr, "%s: needs DESC and MOUNTPOINT; see '%s --help'\n", cmd, cmd);
        return 2;
    }
    if (cli_peers_check(&po, cmd) < 0)
        return 2;
    const char *desc = argv[optind];
    bl_err err = {.offset = 0};
    if (no_fuse && mode == BL_FS_BLOCK) {
        fprintf(stderr, "%s: --no-fuse: block mode needs FUSE (it serves reads, not files); use "
                        "file, hybrid or bulk\n", cmd);
        return 2;
    }
    if (no_fuse && allow_other) {
        fprintf(stderr, "%s: --allow-other is for a FUSE mount; --no-fuse makes none\n", cmd);
        return 2;
    }
    /* until the daemon runs, warnings are this command's lines */
    bl_log_set_tag("bitlib mount");
    bl_log_set_plain(true);
    char mp[PATH_MAX], sock_buf[PATH_MAX], log_buf[PATH_MAX];
    bl_cache cache_lock = {.lock_fd = -1};
    int log_fd = -1;
    bl_metainfo mi;
    if (bl_metainfo_load(&mi, desc, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (cli_trust_check(&to, &mi, desc, cmd) < 0) {
        bl_metainfo_free(&mi);
        return 1;
    }
    int rc = 1;
    /* without MOUNTPOINT: the one the description records (bitlib create --mount) */
    const char *mp_arg = argc - optind == 2 ? argv[optind + 1] : mi.mount;
    if (!mp_arg || !*mp_arg) {
        fprintf(stderr, "%s: needs MOUNTPOINT: %s records none (bitlib create --mount); see "
                        "'%s --help'\n", cmd, desc, cmd);
        bl_metainfo_free(&mi);
        return 2;
    }
    if (no_fuse ? bl_tree_canonical_mount(mp_arg, mp, sizeof mp, &err) < 0 ||
                      bl_tree_check(&mi, &err) < 0
                : bl_fusefs_canonical(mp_arg, mp, sizeof mp, &err) < 0 ||
                      bl_fusefs_check_mountpoint(mp, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out_mi;
    }
    if (!po.use_trackers && po.n == 0)
        bl_warn("no --peer and --no-tracker: only peers that connect to us will be used");
    else if (po.n == 0 && mi.num_tiers == 0)
        bl_warn("%s names no tracker and no --peer was given: only peers that connect to us "
                "will be used", desc);
    if (!sock) {
        if (bl_ctl_default_path(mp, ".sock", true, sock_buf, sizeof sock_buf, &err) < 0) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            goto out_mi;
        }
        sock = sock_buf;
    }
    if (!log_path) {
        if (bl_ctl_default_path(mp, ".log", true, log_buf, sizeof log_buf, &err) < 0) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            goto out_mi;
        }
        log_path = log_buf;
    }
    if (!foreground) {
        /* opened here, so that a log nobody could read is refused, not silenced */
        char why[128];
        log_fd = bl_log_open_file(log_path, why, sizeof why);
        if (log_fd < 0) {
            fprintf(stderr, "%s: cannot write the log %s: %s\n", cmd, log_path, why);
            goto out_mi;
        }
    }
    /* the cache is chosen and locked before detaching: a refusal is this
     * command's one line; the daemon inherits the lock */
    char note[PATH_MAX * 2 + 128];
    if (bl_cache_open(&cache_lock, cache, &mi, mp, note, sizeof note, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out_mi;
    }
    if (note[0])
        fprintf(stderr, "%s: %s\n", cmd, note);
    cache = cache_lock.dir;
    signal(SIGPIPE, SIG_IGN);

    mnt m = {.ready_fd = -1, .log_path = log_path, .mountpoint = mp, .foreground = foreground,
             .stop_wait_s = stop_wait};
    if (!foreground) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0) {
            fprintf(stderr, "%s: pipe: %s\n", cmd, strerror(errno));
            goto out_mi;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "%s: fork: %s\n", cmd, strerror(errno));
            close(pfd[0]);
            close(pfd[1]);
            goto out_mi;
        }
        if (pid > 0) {
            close(pfd[1]);
            bl_cache_close(&cache_lock); /* the daemon holds the lock now */
            close(log_fd);
            rc = wait_for_child(pid, pfd[0], log_path);
            close(pfd[0]);
            bl_metainfo_free(&mi);
            return rc;
        }
        close(pfd[0]);
        m.ready_fd = pfd[1];
        setsid();
        detach_stdio(log_fd);
        log_fd = -1;
        bl_cache_set_owner(&cache_lock, mp);
    }

    bl_log_set_tag("bitlib");
    bl_log_set_plain(false); /* the daemon's log: time and pid on every line */
    m.loop = bl_loop_new(&err);
    if (!m.loop)
        goto fail;
    char tree_dir[PATH_MAX], tree_index[PATH_MAX];
    if (no_fuse && bl_tree_paths(cache, tree_dir, sizeof tree_dir, tree_index, sizeof tree_index,
                                 &err) < 0)
        goto fail;
    bl_node_config nc = {
        .mi = &mi, .cache_dir = cache, .mode = mode,
        .read_timeout_ms = (uint64_t)(read_timeout * 1000), .listen = po.listen,
        .use_trackers = po.use_trackers, .policy = po.policy,
        .secret = po.secret.len ? &po.secret : NULL, .allow_stock = po.allow_stock,
        .log_path = foreground ? NULL : log_path,
        .no_elf_readahead = no_elf_readahead, .learn_path = learn[0] ? learn : NULL,
        .tree_dir = no_fuse ? tree_dir : NULL,
        .on_piece = on_piece, .on_piece_arg = &m,
    };
    m.node = bl_node_new(m.loop, &nc, &err);
    if (!m.node || (learn[0] && bl_node_write_trace(m.node, learn, &err) < 0))
        goto fail;
    cli_peers_add(&po, bl_node_swarm(m.node));
    if (bl_loop_signal(m.loop, SIGINT, on_signal, &m, &err) < 0 ||
        bl_loop_signal(m.loop, SIGTERM, on_signal, &m, &err) < 0)
        goto fail;
    signal(SIGHUP, SIG_IGN);
    if (!foreground)
        bl_loop_timer(m.loop, LOG_CHECK_MS, check_log, &m);
    if (no_fuse && !(m.tree = bl_tree_new(m.node, &err)))
        goto fail;
    if (bl_node_start(m.node, &err) < 0 || (m.tree && bl_tree_start(m.tree, &err) < 0))
        goto fail;
    m.ctl = bl_ctl_new(m.loop, m.node, sock, mp, &err);
    if (!m.ctl)
        goto fail;
    bl_ctl_set_tree(m.ctl, m.tree);
    if (m.tree) {
        bl_info("no FUSE: the set's tree is %s (the index %s)", tree_dir, tree_index);
    }
    bl_fusefs_config fc = {.loop = m.loop, .node = m.node, .mountpoint = mp,
                           .allow_other = allow_other, .on_ready = on_ready,
                           .on_gone = on_gone, .arg = &m};
    if (!m.tree && !(m.fs = bl_fusefs_mount(&fc, &err)))
        goto fail;
    if (registry && !(m.holders = bl_reg_watch_new(m.loop, registry, on_unused, &m, &err)))
        goto fail;
    if (m.tree)
        on_ready(&m); /* nothing to mount: the tree and the socket serve now */
    bl_info("control socket %s%s%s", sock, foreground ? "" : ", log ",
            foreground ? "" : log_path);
    bl_loop_run(m.loop);
    rc = 0;
    goto out;
fail:
    if (m.ready_fd >= 0) {
        bl_error("%s", err.msg);
        char line[sizeof err.msg + 1];
        int n = snprintf(line, sizeof line, "E%s", err.msg);
        ssize_t w = write(m.ready_fd, line, (size_t)n);
        (void)w;
    } else {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
    }
    rc = 1;
out:
    if (m.node) {
        bl_node_stop(m.node);
        bl_swarm_leave(bl_node_swarm(m.node), 2000); /* trackers forget us now, not in an hour */
    }
    bl_fusefs_unmount(m.fs);
    bl_ctl_free(m.ctl);
    bl_reg_watch_free(m.holders); /* after the unmount: a rank waiting may mount anew */
    bl_tree_free(m.tree);
    bl_node_free(m.node);
    if (m.loop)
        bl_loop_free(m.loop);
    if (m.ready_fd >= 0)
        close(m.ready_fd); /* EOF: the parent reports failure */
out_mi:
    if (log_fd >= 0)
        close(log_fd);
    bl_cache_close(&cache_lock);
    bl_metainfo_free(&mi);
    return rc;
}
