/* bitlib launch: one job's bootstrap in one line, inside an allocation: a
 * tracker (started here, or --tracker), the set's description (cached while
 * the set does not change: launch/desccache.h), seeders reading the shared
 * copy, then CMD on every allocated node through the launcher and bitlib
 * run; what it started is stopped when the launcher returns. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "swarm/secret.h"
#include "fs/ctl.h"
#include "launch/desccache.h"

static const char launch_usage[] =
    "usage: bitlib launch [options] SETDIR... -- CMD [ARGS...]\n"
    "\n"
    "Run CMD on every node of the job's allocation with SETDIR (the set of libraries, on\n"
    "the shared file system) mounted through bitlib, in one line. On the node where it runs\n"
    "(the batch script's node) it:\n"
    "  1. starts a tracker on a free port (or uses --tracker URL);\n"
    "  2. describes the set, with the prefetch list of CMD's executable when that lies in\n"
    "     the set; the description is cached and reused while no file of the set changes\n"
    "     (size, mode, mtime), so a job of an unchanged set hashes nothing;\n"
    "  3. starts --seeders seeders reading the shared copy;\n"
    "  4. runs 'LAUNCHER [--launcher-arg...] bitlib run DESC -- CMD ARGS' and waits (a CMD\n"
    "     inside the set runs from the mount: bitlib run --in-set);\n"
    "then stops the seeders and the tracker and exits with the launcher's status.\n"
    "The swarm is private: a job secret is made for the job (--cache-dir/job-PID.secret,\n"
    "mode 0600, removed at the end) and given to the tracker, the seeders and every bitlib\n"
    "run, so only the job's nodes take part.  --open makes it open; with --seeders 0 (the\n"
    "site's seeders) it is open unless --secret-file names the site's secret.\n"
    "SIGINT, SIGTERM and SIGHUP are passed to the launcher.\n"
    "\n"
    "options:\n"
    "      --launcher L        srun, mpirun (mpiexec) or auto (default: srun inside a Slurm\n"
    "                          allocation, else mpiexec)\n"
    "      --launcher-arg ARG  an argument for the launcher (repeatable), e.g. -n 8\n"
    "      --seeders N         seeders to start here (default 1; 0 with --tracker when\n"
    "                          the site's seeders serve the set)\n"
    "      --tracker URL       use this tracker instead of starting one\n"
    "      --advertise ADDR    the address other nodes reach this node at (default: its\n"
    "                          first non-loopback IPv4 address)\n"
    "      --cache-dir DIR     where descriptions are cached and the job's goes (default\n"
    "                          $XDG_CACHE_HOME/bitlib or ~/.cache/bitlib; on clusters it\n"
    "                          must be on a file system every node sees)\n"
    "  -m, --mode MODE         bitlib run's --mode (default hybrid)\n"
    "      --no-fuse           no FUSE on the nodes: bitlib run --no-fuse (the daemon keeps\n"
    "                          the set's tree in its cache; libraries load through the\n"
    "                          LD_AUDIT library, Python modules through the import hook;\n"
    "                          any other file is missing until it is local: see 'bitlib\n"
    "                          run --help'); not with --mode block\n"
    "      --secret-file FILE  the swarm's job secret (see bitlib seed --help)\n"
    "      --open              an open swarm: no job secret\n"
    "  -h, --help              this text\n"
    "\n"
    "The tracker and seeders log to RUNDIR/launch-<pid>-*.log (see bitlib run --help),\n"
    "removed when the job succeeds.\n";

#define MAX_ARGS 256
#define MAX_SEEDERS 16

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

static pid_t spawn(char *const argv[], const char *log)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nfd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    if (nfd >= 0)
        dup2(nfd, STDIN_FILENO);
    close_range(3, ~0u, 0);
    execv(argv[0], argv);
    _exit(127);
}

/* SIGTERM, wait up to 5 s, then SIGKILL. */
static void stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int advertise_addr(char *out, size_t outsz)
{
    struct ifaddrs *ifa, *i;
    if (getifaddrs(&ifa) < 0)
        return -1;
    int rc = -1;
    for (i = ifa; i && rc < 0; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
        if ((ntohl(a.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &a, out, (socklen_t)outsz);
        rc = 0;
    }
    freeifaddrs(ifa);
    if (rc < 0)
        snprintf(out, outsz, "127.0.0.1");
    return 0;
}

/* A port free for TCP and UDP on addr (the tracker serves both). */
static int free_port(const char *addr)
{
    for (int tries = 0; tries < 20; tries++) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        inet_pton(AF_INET, addr, &sa.sin_addr);
        int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t len = sizeof sa;
        if (t < 0 || bind(t, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            getsockname(t, (struct sockaddr *)&sa, &len) < 0) {
            if (t >= 0)
                close(t);
            return -1;
        }
        int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bool ok = u >= 0 && bind(u, (struct sockaddr *)&sa, sizeof sa) == 0;
        int port = ntohs(sa.sin_port);
        close(t);
        if (u >= 0)
            close(u);
        if (ok)
            return port;
    }
    return -1;
}

static bool listening(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* CMD's executable: a path, or found on PATH; NULL if neither. */
static char *find_exe(const char *cmd)
{
    char buf[PATH_MAX];
    if (strchr(cmd, '/'))
        return realpath(cmd, NULL);
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        if (n && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, cmd) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return realpath(buf, NULL);
        p += n + (p[n] == ':');
    }
    return NULL;
}

/* CMD's path inside the set (as the mount shows it), or 0 if it is not in the set. */
static int path_in_set(const char *exe, const char *const *dirs, size_t n, char *out,
                       size_t outsz)
{
    char rd[PATH_MAX];
    for (size_t i = 0; exe && i < n; i++) {
        size_t l;
        if (!realpath(dirs[i], rd) || !(l = strlen(rd)) || strncmp(exe, rd, l) || exe[l] != '/')
            continue;
        const char *base = strrchr(rd, '/');
        if (n == 1)
            snprintf(out, outsz, "%s", exe + l + 1);
        else
            snprintf(out, outsz, "%s/%s", base ? base + 1 : rd, exe + l + 1);
        return 1;
    }
    return 0;
}

/* The seeders' data directory: the one SETDIR, or a directory of links named
 * as the set's top-level directories. */
static int seed_root(const char *const *dirs, size_t n, const char *tmpl, char *out, size_t outsz)
{
    if (n == 1)
        return snprintf(out, outsz, "%s", dirs[0]) < (int)outsz ? 0 : -1;
    snprintf(out, outsz, "%s", tmpl);
    if (mkdir(out, 0700) < 0 && errno != EEXIST)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char rp[PATH_MAX], name[NAME_MAX + 1], l[PATH_MAX];
        if (!realpath(dirs[i], rp))
            return -1;
        const char *b = strrchr(rp, '/');
        snprintf(name, sizeof name, "%s", b ? b + 1 : rp);
        snprintf(l, sizeof l, "%s/%s", out, name);
        unlink(l);
        if (symlink(rp, l) < 0)
            return -1;
    }
    return 0;
}

int cmd_launch(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"launcher", required_argument, NULL, 'L'},
        {"launcher-arg", required_argument, NULL, 'a'},
        {"seeders", required_argument, NULL, 's'},
        {"tracker", required_argument, NULL, 't'},
        {"advertise", required_argument, NULL, 'A'},
        {"cache-dir", required_argument, NULL, 'C'},
        {"mode", required_argument, NULL, 'm'},
        {"secret-file", required_argument, NULL, 'S'},
        {"open", no_argument, NULL, 'O'},
        {"no-fuse", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib launch";
    if (cli_wants_help(argc, argv)) {
        fputs(launch_usage, stdout);
        return 0;
    }
    const char *launcher = "auto", *tracker = NULL, *adv = NULL, *cache_dir = NULL;
    const char *mode = "hybrid", *secret_arg = NULL;
    bool open_swarm = false, no_fuse = false;
    const char *largs[MAX_ARGS];
    size_t nl = 0;
    long seeders = 1;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'L': launcher = optarg; break;
        case 'a':
            if (nl == MAX_ARGS) {
                fprintf(stderr, "%s: at most %d --launcher-arg\n", cmd, MAX_ARGS);
                return 2;
            }
            largs[nl++] = optarg;
            break;
        case 's': {
            char *end;
            seeders = strtol(optarg, &end, 10);
            if (*end || seeders < 0 || seeders > MAX_SEEDERS) {
                fprintf(stderr, "%s: --seeders '%s': 0 to %d\n", cmd, optarg, MAX_SEEDERS);
                return 2;
            }
            break;
        }
        case 't': tracker = optarg; break;
        case 'A': adv = optarg; break;
        case 'C': cache_dir = optarg; break;
        case 'm': mode = optarg; break;
        case 'S': {
            bl_secret check;
            bl_err e;
            if (bl_secret_load(&check, optarg, &e) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, e.msg);
                return 2;
            }
            secret_arg = optarg;
            break;
        }
        case 'O': open_swarm = true; break;
        case 'N': no_fuse = true; break;
        default:
            return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (no_fuse && !strcmp(mode, "block")) {
        fprintf(stderr, "%s: --no-fuse: block mode needs FUSE; use file, hybrid or bulk\n", cmd);
        return 2;
    }
    int dd = optind;
    while (dd < argc && strcmp(argv[dd], "--"))
        dd++;
    if (dd == optind || dd >= argc - 1) {
        fprintf(stderr, "%s: needs SETDIR..., then -- and the command; see '%s --help'\n", cmd,
                cmd);
        return 2;
    }
    const char *const *dirs = (const char *const *)argv + optind;
    size_t ndirs = (size_t)(dd - optind);
    char **prog = argv + dd + 1;
    if (!strcmp(launcher, "auto"))
        launcher = getenv("SLURM_JOB_ID") && find_exe("srun") ? "srun" : "mpirun";
    const char *lexe = !strcmp(launcher, "srun") ? "srun"
                     : (!strcmp(launcher, "mpirun") || !strcmp(launcher, "mpiexec")) ? "mpiexec"
                                                                                      : NULL;
    if (!lexe) {
        fprintf(stderr, "%s: --launcher '%s': srun, mpirun or auto\n", cmd, launcher);
        return 2;
    }
    char *lpath = find_exe(lexe);
    if (!lpath) {
        fprintf(stderr, "%s: %s not found on PATH\n", cmd, lexe);
        return 1;
    }
    if (seeders == 0 && !tracker)
        fprintf(stderr, "%s: --seeders 0 without --tracker: nothing will serve the set\n", cmd);
    if (open_swarm && secret_arg) {
        fprintf(stderr, "%s: --open and --secret-file contradict each other\n", cmd);
        free(lpath);
        return 2;
    }

    char self[PATH_MAX], rundir[PATH_MAX], cdir[PATH_MAX], addr[64], url[256];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = 0;
    bl_err err;
    if (bl_ctl_runtime_dir(rundir, sizeof rundir, true, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (cache_dir) {
        snprintf(cdir, sizeof cdir, "%s", cache_dir);
    } else if (getenv("XDG_CACHE_HOME") && getenv("XDG_CACHE_HOME")[0] == '/') {
        snprintf(cdir, sizeof cdir, "%s/bitlib", getenv("XDG_CACHE_HOME"));
    } else if (getenv("HOME") && getenv("HOME")[0] == '/') {
        char dot[PATH_MAX];
        snprintf(dot, sizeof dot, "%s/.cache", getenv("HOME"));
        mkdir(dot, 0700);
        snprintf(cdir, sizeof cdir, "%s/bitlib", dot);
    } else {
        fprintf(stderr, "%s: no HOME or XDG_CACHE_HOME: pass --cache-dir\n", cmd);
        return 1;
    }
    /* A job's own swarm is private: a secret made for this job, in the cache
     * directory every node reads.  Site seeders (--seeders 0) serve an open
     * swarm unless the site's secret is given. */
    char secret[PATH_MAX] = "";
    bool made_secret = false;
    if (secret_arg) {
        snprintf(secret, sizeof secret, "%s", secret_arg);
    } else if (!open_swarm && seeders > 0) {
        if (mkdir(cdir, 0700) < 0 && errno != EEXIST) {
            fprintf(stderr, "%s: %s: %s\n", cmd, cdir, strerror(errno));
            return 1;
        }
        snprintf(secret, sizeof secret, "%s/job-%d.secret", cdir, (int)getpid());
        unlink(secret); /* a stale one of a dead job with our pid */
        if (bl_secret_generate(secret, &err) < 0) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            return 1;
        }
        made_secret = true;
    }
    if (adv)
        snprintf(addr, sizeof addr, "%s", adv);
    else
        advertise_addr(addr, sizeof addr);

    int rc = 1;
    pid_t trk = 0, seed[MAX_SEEDERS] = {0}, child = 0;
    char log[PATH_MAX], desc[PATH_MAX], root[PATH_MAX], links[PATH_MAX];
    snprintf(desc, sizeof desc, "%s/job-%d.torrent", cdir, (int)getpid());
    snprintf(links, sizeof links, "%s/launch-%d-set", rundir, (int)getpid());
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* 1. tracker */
    if (tracker) {
        snprintf(url, sizeof url, "%s", tracker);
    } else {
        int port = free_port(addr);
        if (port < 0) {
            fprintf(stderr, "%s: no free port on %s for the tracker\n", cmd, addr);
            goto out;
        }
        char listen[96];
        snprintf(listen, sizeof listen, "%s:%d", addr, port);
        snprintf(url, sizeof url, "http://%s/announce", listen);
        snprintf(log, sizeof log, "%s/launch-%d-tracker.log", rundir, (int)getpid());
        char *targv[] = {self, "tracker", "--listen", listen, "--interval", "60",
                         secret[0] ? "--secret-file" : NULL, secret, NULL};
        trk = spawn(targv, log);
        for (int i = 0; i < 100 && !listening(addr, port); i++)
            usleep(50000);
        if (!listening(addr, port)) {
            fprintf(stderr, "%s: the tracker did not start; see %s\n", cmd, log);
            goto out;
        }
    }
    /* 2. description */
    char *exe = find_exe(prog[0]);
    const char *trackers[1] = {url};
    bl_desc_job j = {.dirs = dirs, .num_dirs = ndirs, .exe = exe, .trackers = trackers,
                     .num_trackers = 1, .cache_dir = cdir, .out = desc};
    bool reused = false;
    int drc = bl_desc_for_job(&j, &reused, &err);
    char rel[PATH_MAX];
    int in_set = path_in_set(exe, dirs, ndirs, rel, sizeof rel);
    free(exe);
    if (drc < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    /* 3. seeders */
    if (seed_root(dirs, ndirs, links, root, sizeof root) < 0) {
        fprintf(stderr, "%s: cannot prepare the seeders' directory %s: %s\n", cmd, links,
                strerror(errno));
        goto out;
    }
    for (long i = 0; i < seeders; i++) {
        char listen[96];
        snprintf(listen, sizeof listen, "%s:0", addr);
        snprintf(log, sizeof log, "%s/launch-%d-seed%ld.log", rundir, (int)getpid(), i);
        char *sargv[] = {self, "seed", desc, root, "--listen", listen,
                         secret[0] ? "--secret-file" : NULL, secret, NULL};
        seed[i] = spawn(sargv, log);
    }
    fprintf(stderr, "%s: tracker %s%s, %ld seeder%s, description %s (%s), %s swarm\n", cmd,
            url, tracker ? "" : " (started)", seeders, seeders == 1 ? "" : "s", desc,
            reused ? "reused: the set has not changed" : "created",
            secret[0] ? "private" : "open");
    /* 4. the job */
    const char *av[MAX_ARGS * 2 + 16];
    size_t a = 0;
    av[a++] = lpath;
    for (size_t i = 0; i < nl; i++)
        av[a++] = largs[i];
    av[a++] = self;
    av[a++] = "run";
    av[a++] = "--mode";
    av[a++] = mode;
    if (no_fuse)
        av[a++] = "--no-fuse";
    if (in_set)
        av[a++] = "--in-set"; /* CMD runs from the mount, not from the shared copy */
    if (secret[0]) {
        av[a++] = "--secret-file";
        av[a++] = secret;
    }
    av[a++] = desc;
    av[a++] = "--";
    av[a++] = in_set ? rel : prog[0];
    for (char **p = prog + 1; *p && a < sizeof av / sizeof av[0] - 1; p++)
        av[a++] = *p;
    av[a] = NULL;
    fflush(NULL);
    child = fork();
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execv(lpath, (char *const *)(uintptr_t)av);
        fprintf(stderr, "%s: %s: %s\n", cmd, lpath, strerror(errno));
        _exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t w = waitpid(child, &status, 0);
        if (w == child)
            break;
        if (w < 0 && errno == EINTR && got_signal) {
            kill(child, got_signal);
            got_signal = 0;
        }
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
    for (long i = 0; i < seeders; i++)
        stop(seed[i]);
    stop(trk);
    /* the logs of what we started: kept only when something failed */
    for (long i = -1; i < seeders; i++) {
        if (i < 0)
            snprintf(log, sizeof log, "%s/launch-%d-tracker.log", rundir, (int)getpid());
        else
            snprintf(log, sizeof log, "%s/launch-%d-seed%ld.log", rundir, (int)getpid(), i);
        if (rc == 0)
            unlink(log);
        else if (access(log, F_OK) == 0)
            fprintf(stderr, "%s: log kept: %s\n", cmd, log);
    }
    unlink(desc);
    if (made_secret)
        unlink(secret);
    if (ndirs > 1) {
        for (size_t i = 0; i < ndirs; i++) {
            char rp[PATH_MAX], l[PATH_MAX];
            if (realpath(dirs[i], rp) && strrchr(rp, '/')) {
                snprintf(l, sizeof l, "%s/%s", links, strrchr(rp, '/') + 1);
                unlink(l);
            }
        }
        rmdir(links);
    }
    free(lpath);
    return rc;
}
