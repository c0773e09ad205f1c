/* bitlib seed, bitlib fetch: thin fronts on the swarm engine. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/net.h"
#include "fs/ctl.h"
#include "swarm/layout.h"
#include "swarm/swarm.h"

extern char **environ;

static const char seed_usage[] =
    "usage: bitlib seed [options] DESC DIR\n"
    "\n"
    "Verify that DIR holds the whole set DESC describes (hashing on every core), then serve it\n"
    "to peers until interrupted (SIGINT/SIGTERM). DIR is the set's root: for a set created\n"
    "from one directory, that directory itself. Refuses, naming the first differing file, if\n"
    "the data does not match.\n"
    "\n"
    "options:\n"
    "  -l, --listen ADDR:PORT  accept peers here (default 0.0.0.0:6881)\n"
    "  -p, --peer ADDR:PORT    also connect to this peer (repeatable)\n"
    "      --no-tracker        do not announce to the description's trackers\n"
    "      --policy P          cooperative (default between bitlib peers) or stock\n"
    CLI_SECRET_USAGE
    "      --trust PUB         refuse DESC unless signed by this key (KEY.pub) or by a\n"
    "                          key in this directory; repeatable. Default: the keys in\n"
    "                          /etc/bitlib/trusted.d/ ($BITLIB_TRUST_DIR) when present\n"
    "  -v, --verbose           log debugging detail\n"
    "  -h, --help              this text\n";

static const char fetch_usage[] =
    "usage: bitlib fetch [options] DESC DIR\n"
    "\n"
    "Download the set DESC describes into DIR (created if needed) from peers, verifying every\n"
    "piece, and exit 0 once everything is verified. Data already in DIR is checked and kept.\n"
    "Peers come from the description's trackers and from --peer. On a terminal a progress bar\n"
    "shows rate and ETA; otherwise one summary line is printed at the end.\n"
    "\n"
    "options:\n"
    "  -l, --listen ADDR:PORT  accept peers here (default 0.0.0.0:0, a free port)\n"
    "  -p, --peer ADDR:PORT    connect to this peer (repeatable; bypasses the tracker)\n"
    "      --no-tracker        do not announce to the description's trackers\n"
    "      --on-complete CMD   run CMD with /bin/sh -c as soon as everything is verified\n"
    "                          (with --json its stdout goes to stderr)\n"
    "      --keep-serving      after completion, keep serving peers until interrupted\n"
    "      --json              print a JSON summary on stdout (bytes per peer, from seeders)\n"
    "      --stall-timeout SEC give up (exit 1) when nothing arrives for SEC seconds while\n"
    "                          incomplete (default 300; 0 waits forever)\n"
    "      --policy P          cooperative (default between bitlib peers) or stock\n"
    CLI_SECRET_USAGE
    "      --trust PUB         refuse DESC unless signed by this key (KEY.pub) or by a\n"
    "                          key in this directory; repeatable. Default: the keys in\n"
    "                          /etc/bitlib/trusted.d/ ($BITLIB_TRUST_DIR) when present\n"
    "  -q, --quiet             no progress bar or summary line\n"
    "  -v, --verbose           log debugging detail\n"
    "  -h, --help              this text\n";

typedef struct run {
    bl_loop *loop;
    bl_swarm *swarm;
    bl_metainfo mi;
    bool fetch, keep_serving, json, quiet, tty, completed;
    const char *on_complete;
    const char *dir;
    pid_t hook_pid;
    unsigned stall_s;
    uint64_t start_ms, last_progress_ms;
    uint32_t last_had;
    int exit_code;
} run;

static void on_signal(bl_loop *loop, int signo, void *arg)
{
    run *r = arg;
    bl_info("signal %d: stopping", signo);
    if (r->fetch && !r->completed)
        r->exit_code = 1;
    bl_loop_stop(loop);
}

static void run_hook(run *r)
{
    char *argv[] = {"/bin/sh", "-c", (char *)(uintptr_t)r->on_complete, NULL};
    /* with --json, stdout is the summary's alone: the command writes to stderr */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (r->json)
        posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    int rc = posix_spawn(&r->hook_pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        bl_error("--on-complete: cannot run /bin/sh: %s", strerror(rc));
        r->hook_pid = 0;
    }
}

static void on_complete(void *arg)
{
    run *r = arg;
    if (r->completed)
        return;
    bl_err err;
    /* the copy is usable only with the modes, symlinks, directories and
     * mtimes the description records (what the mount shows) */
    if (bl_layout_apply(&r->mi, r->dir, &err) < 0) {
        bl_error("every piece is verified, but the copy's layout could not be made: %s",
                 err.msg);
        r->exit_code = 1;
        bl_loop_stop(r->loop);
        return;
    }
    r->completed = true;
    bl_info("complete: every piece verified");
    if (r->on_complete)
        run_hook(r);
    if (!r->keep_serving)
        bl_loop_stop(r->loop);
}

/* fetch: a directory that cannot take the data will not get room by waiting */
static void on_store_failing(void *arg, int err_no)
{
    run *r = arg;
    if (!err_no)
        return;
    bl_error("cannot write into the data directory (%s); stopping: free space and run fetch "
             "again (the pieces already written are verified and kept)", strerror(err_no));
    r->exit_code = 1;
    bl_loop_stop(r->loop);
}

static void draw_progress(run *r, bool final)
{
    bl_swarm_stats st;
    bl_swarm_get_stats(r->swarm, &st);
    double secs = (double)(bl_loop_now_ms(r->loop) - r->start_ms) / 1000.0;
    double pct = st.pieces_total ? 100.0 * st.pieces_had / st.pieces_total : 100.0;
    if (r->tty && !final) {
        char bar[31];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        uint64_t left = (uint64_t)(st.pieces_total - st.pieces_had) * r->mi.piece_length;
        char eta[32] = "--:--";
        if (st.rate_down > 0) {
            uint64_t s = left / st.rate_down;
            snprintf(eta, sizeof eta, "%02u:%02u", (unsigned)(s / 60 % 100), (unsigned)(s % 60));
        }
        fprintf(stderr, "\r[%s] %5.1f%% %7.2f MiB/s ETA %s peers %u  ", bar, pct,
                (double)st.rate_down / (1 << 20), eta, st.peers);
        fflush(stderr);
        bl_log_progress_shown(true); /* a log line clears it first */
        return;
    }
    if (final) {
        if (r->tty)
            fputc('\n', stderr);
        bl_log_progress_shown(false);
        fprintf(stderr, "bitlib fetch: %s: %u/%u pieces, %.2f MiB downloaded (%.2f MiB from "
                        "seeders) in %.1f s, %.2f MiB uploaded, %u hash failures\n",
                r->completed ? "complete" : "incomplete", st.pieces_had, st.pieces_total,
                (double)st.bytes_downloaded / (1 << 20), (double)st.bytes_from_seeders / (1 << 20),
                secs, (double)st.bytes_uploaded / (1 << 20), st.hash_failures);
    }
}

static void on_timer(bl_loop *loop, void *arg)
{
    run *r = arg;
    uint64_t now = bl_loop_now_ms(loop);
    bl_loop_timer(loop, 250, on_timer, r);
    if (r->hook_pid > 0) {
        int status;
        pid_t w = waitpid(r->hook_pid, &status, WNOHANG);
        if (w == r->hook_pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                bl_warn("--on-complete command failed (status %d)", status);
            r->hook_pid = 0;
        }
    }
    if (!r->fetch)
        return;
    bl_swarm_stats st;
    bl_swarm_get_stats(r->swarm, &st);
    if (st.pieces_had != r->last_had) {
        r->last_had = st.pieces_had;
        r->last_progress_ms = now;
    }
    if (!r->quiet && !r->completed)
        draw_progress(r, false);
    if (!r->completed && r->stall_s && now - r->last_progress_ms > r->stall_s * 1000ull) {
        bl_error("no piece arrived for %u s (%u peers connected, %u/%u pieces); giving up",
                 r->stall_s, st.peers, st.pieces_had, st.pieces_total);
        r->exit_code = 1;
        bl_loop_stop(loop);
    }
}

/* The control socket's status object (fs/ctl.h): kind, pid, dir, set, the
 * swarm's figures. */
static void status_json(void *arg, bl_buf *b)
{
    run *r = arg;
    char ih[2 * BL_SHA1_LEN + 1];
    bl_hex(r->mi.info_hash, BL_SHA1_LEN, ih);
    bl_buf_printf(b, "{\"kind\":\"%s\",\"pid\":%d,\"dir\":", r->fetch ? "fetch" : "seed",
                  (int)getpid());
    bl_json_cstr(b, r->dir);
    bl_buf_puts(b, ",\"name\":");
    bl_json_cstr(b, r->mi.name);
    bl_buf_printf(b, ",\"info_hash\":\"%s\",\"uptime_s\":%.3f,\"complete\":%s,", ih,
                  (double)(bl_loop_now_ms(r->loop) - r->start_ms) / 1000.0,
                  r->fetch ? (r->completed ? "true" : "false") : "true");
    bl_swarm_status_json(r->swarm, b);
    bl_buf_putc(b, '}');
}

/* seed and fetch answer `bitlib status` like a mount does; without a socket
 * (no runtime directory, the same DIR served twice) they still work */
static bl_ctl *open_status_socket(run *r, const char *dir)
{
    char real[PATH_MAX], name[PATH_MAX + 8], sock[PATH_MAX];
    bl_err err;
    if (!realpath(dir, real))
        return NULL;
    snprintf(name, sizeof name, "%s:%s", r->fetch ? "fetch" : "seed", real);
    if (bl_ctl_default_path(name, ".sock", true, sock, sizeof sock, &err) < 0) {
        bl_warn("no status socket: %s", err.msg);
        return NULL;
    }
    bl_ctl *c = bl_ctl_serve(r->loop, sock, status_json, r, &err);
    if (!c)
        bl_warn("no status socket: %s", err.msg);
    else
        bl_debug("status socket %s", sock);
    return c;
}

static void print_json(run *r)
{
    bl_swarm_stats st;
    bl_swarm_get_stats(r->swarm, &st);
    bl_swarm_peer_stats ps[512];
    size_t n = bl_swarm_list_peers(r->swarm, ps, 512, true);
    if (n > 512)
        n = 512;
    bl_buf b;
    bl_buf_init(&b);
    double secs = (double)(bl_loop_now_ms(r->loop) - r->start_ms) / 1000.0;
    bl_buf_printf(&b, "{\"complete\":%s,\"seconds\":%.3f,\"pieces_had\":%u,\"pieces_total\":%u,"
                      "\"bytes_downloaded\":%llu,\"bytes_from_seeders\":%llu,"
                      "\"bytes_from_peers\":%llu,\"bytes_uploaded\":%llu,\"bytes_wasted\":%llu,"
                      "\"hash_failures\":%u,\"peers\":[",
                  r->completed ? "true" : "false", secs, st.pieces_had, st.pieces_total,
                  (unsigned long long)st.bytes_downloaded,
                  (unsigned long long)st.bytes_from_seeders,
                  (unsigned long long)(st.bytes_downloaded - st.bytes_from_seeders),
                  (unsigned long long)st.bytes_uploaded, (unsigned long long)st.bytes_wasted,
                  st.hash_failures);
    for (size_t i = 0; i < n; i++) {
        bl_buf_puts(&b, i ? ",{\"addr\":" : "{\"addr\":");
        bl_json_cstr(&b, ps[i].addr);
        bl_buf_puts(&b, ",\"client\":");
        bl_json_cstr(&b, ps[i].client);
        bl_buf_printf(&b, ",\"seeder\":%s,\"cooperative\":%s,\"downloaded\":%llu,"
                          "\"uploaded\":%llu}",
                      ps[i].seeder ? "true" : "false", ps[i].coop ? "true" : "false",
                      (unsigned long long)ps[i].downloaded, (unsigned long long)ps[i].uploaded);
    }
    bl_buf_puts(&b, "]}\n");
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    bl_buf_free(&b);
}

static int run_swarm(bool fetch, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},
        {"no-tracker", no_argument, NULL, 'T'},
        {"on-complete", required_argument, NULL, 'C'},
        {"keep-serving", no_argument, NULL, 'K'},
        {"json", no_argument, NULL, 'J'},
        {"stall-timeout", required_argument, NULL, 'S'},
        {"policy", required_argument, NULL, 'P'},
        {"trust", required_argument, NULL, CLI_OPT_TRUST},
        {"secret-file", required_argument, NULL, CLI_OPT_SECRET},
        {"allow-stock", no_argument, NULL, CLI_OPT_ALLOW_STOCK},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = fetch ? "bitlib fetch" : "bitlib seed";
    cli_peers po;
    cli_peers_init(&po, fetch ? "0.0.0.0:0" : "0.0.0.0:6881");
    run r = {.fetch = fetch, .stall_s = 300};
    cli_trust to = {.n = 0};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "l:p:qvh", longopts, NULL)) != -1) {
        bool fetch_only = c == 'C' || c == 'K' || c == 'J' || c == 'S' || c == 'q';
        if (fetch_only && !fetch) {
            fprintf(stderr, "%s: %s is an option of bitlib fetch\n", cmd, argv[optind - 1]);
            return 2;
        }
        int shared = cli_peers_option(&po, c, optarg, cmd);
        if (shared < 0)
            return 2;
        if (shared)
            continue;
        switch (c) {
        case 'C': r.on_complete = optarg; break;
        case 'K': r.keep_serving = true; break;
        case 'J': r.json = true; break;
        case CLI_OPT_TRUST:
            if (cli_trust_option(&to, optarg, cmd) < 0)
                return 2;
            break;
        case 'S': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 86400 * 7) {
                fprintf(stderr, "%s: --stall-timeout '%s': seconds, 0 to 604800\n", cmd, optarg);
                return 2;
            }
            r.stall_s = (unsigned)v;
            break;
        }
        case 'q': r.quiet = true; break;
        case 'v': bl_log_set_level(BL_LOG_DEBUG); break;
        case 'h': fputs(fetch ? fetch_usage : seed_usage, stdout); return 0;
        default:
            return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "%s: needs DESC and DIR; see '%s --help'\n", cmd, cmd);
        return 2;
    }
    const char *desc = argv[optind], *dir = argv[optind + 1];
    r.dir = dir;
    bl_err err = {.offset = 0};
    signal(SIGPIPE, SIG_IGN);
    if (bl_metainfo_load(&r.mi, desc, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (cli_trust_check(&to, &r.mi, desc, cmd) < 0) {
        bl_metainfo_free(&r.mi);
        return 1;
    }
    /* a copy fetched before carries read-only modes: let us write into it */
    if (fetch && bl_layout_prepare(&r.mi, dir, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_metainfo_free(&r.mi);
        return 1;
    }
    int rc = 1;
    bl_ctl *ctl = NULL;
    r.loop = bl_loop_new(&err);
    if (!r.loop) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        bl_metainfo_free(&r.mi);
        return 1;
    }
    if (!po.use_trackers && po.n == 0 && fetch) {
        fprintf(stderr, "%s: no way to find peers: give --peer or drop --no-tracker\n", cmd);
        goto out;
    }
    if (fetch && po.n == 0 && r.mi.num_tiers == 0) {
        fprintf(stderr, "%s: %s names no tracker; give peers with --peer ADDR:PORT\n", cmd, desc);
        goto out;
    }
    bl_swarm_config cfg = {.mi = &r.mi, .dir = dir, .seed = !fetch, .listen = po.listen,
                           .use_trackers = po.use_trackers, .policy = po.policy,
                           .on_complete = on_complete, .on_store_failing = on_store_failing,
                           .arg = &r};
    if (!fetch)
        cfg.on_complete = NULL;
    if (cli_peers_private(&po, &cfg, cmd) < 0) {
        rc = 2;
        goto out;
    }
    r.swarm = bl_swarm_new(r.loop, &cfg, &err);
    if (!r.swarm) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    cli_peers_add(&po, r.swarm);
    if (bl_loop_signal(r.loop, SIGINT, on_signal, &r, &err) < 0 ||
        bl_loop_signal(r.loop, SIGTERM, on_signal, &r, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    bl_loop_refresh_now(r.loop);
    r.start_ms = r.last_progress_ms = bl_loop_now_ms(r.loop);
    r.tty = isatty(STDERR_FILENO) && !r.quiet;
    if (fetch)
        bl_swarm_want_all(r.swarm, BL_PRIO_BULK);
    if (bl_swarm_start(r.swarm, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    ctl = open_status_socket(&r, dir);
    if (!fetch)
        bl_info("seeding %s (%u pieces) from %s", r.mi.name, r.mi.num_pieces, dir);
    bl_loop_timer(r.loop, 250, on_timer, &r);
    if (!(fetch && r.completed && !r.keep_serving))
        bl_loop_run(r.loop);
    rc = r.exit_code;
    if (fetch && !r.completed)
        rc = 1;
    if (fetch && !r.quiet)
        draw_progress(&r, true);
    if (fetch && r.json)
        print_json(&r);
    bl_swarm_leave(r.swarm, 2000); /* trackers hear "stopped", never more than 2 s */
    if (r.hook_pid > 0) {
        int status;
        waitpid(r.hook_pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bl_warn("--on-complete command failed (status %d)", status);
    }
out:
    bl_ctl_free(ctl);
    bl_swarm_free(r.swarm);
    bl_loop_free(r.loop);
    bl_metainfo_free(&r.mi);
    return rc;
}

int cmd_seed(int argc, char **argv) { return run_swarm(false, argc, argv); }
int cmd_fetch(int argc, char **argv) { return run_swarm(true, argc, argv); }
