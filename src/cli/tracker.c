/* bitlib tracker: the built-in tracker daemon, a thin front on
 * tracker/server. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/evloop.h"
#include "core/log.h"
#include "tracker/server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitlib tracker [--listen ADDR:PORT] [--interval SEC] [--whitelist FILE]\n"
            "                      [--json-log] [limits...]\n\n"
            "Serve BitTorrent announces and scrapes over HTTP (GET /announce, /scrape;\n"
            "BEP 3, compact peers BEP 23) and UDP (BEP 15) on the same port number.\n"
            "Runs in the foreground until SIGINT or SIGTERM; SIGHUP re-reads the whitelist.\n\n"
            "  --listen ADDR:PORT    address to serve on (default 0.0.0.0:6969; [::]:PORT\n"
            "                        for IPv6 and IPv4; port 0 picks a free port, logged)\n"
            "  --interval SEC        re-announce interval told to clients (default 1800)\n"
            "  --min-interval SEC    minimum interval told to clients (default interval/2)\n"
            "  --peer-ttl SEC        forget a peer silent this long (default 2 x interval)\n"
            "  --whitelist FILE      serve only the info-hashes in FILE (40 hex digits per\n"
            "                        line, '#' comments), like opentracker's\n"
            "  --max-torrents N      torrents tracked at most (default 100000)\n"
            "  --max-peers N         peers tracked at most, all torrents (default 1000000)\n"
            "  --max-peers-per-torrent N  (default 100000)\n"
            "  --numwant-max N       peers in one reply at most (default 200; default 50)\n"
            "  --json-log            log lines as JSON objects\n"
            "  -h, --help            this text\n");
}

static int parse_num(const char *opt, const char *v, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || errno || n == 0 || n > max || v[0] == '-') {
        fprintf(stderr, "bitlib tracker: %s wants a number in 1..%lu, not '%s'\n", opt, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

static void on_stop(bl_loop *loop, int signo, void *arg)
{
    (void)arg;
    (void)signo;
    bl_loop_stop(loop);   /* the server logs its stop line when freed */
}

static void on_hup(bl_loop *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    bl_trk_server_reload_whitelist(arg, NULL);
}

int cmd_tracker(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    enum { O_INTERVAL = 256, O_MIN_INTERVAL, O_TTL, O_WL, O_JSON, O_MAXT, O_MAXP, O_MAXPT,
           O_NUMWANT };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"min-interval", required_argument, NULL, O_MIN_INTERVAL},
        {"peer-ttl", required_argument, NULL, O_TTL},
        {"whitelist", required_argument, NULL, O_WL},
        {"json-log", no_argument, NULL, O_JSON},
        {"max-torrents", required_argument, NULL, O_MAXT},
        {"max-peers", required_argument, NULL, O_MAXP},
        {"max-peers-per-torrent", required_argument, NULL, O_MAXPT},
        {"numwant-max", required_argument, NULL, O_NUMWANT},
        {NULL, 0, NULL, 0},
    };
    bl_trk_server_config cfg = {.listen = "0.0.0.0:6969"};
    unsigned long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case O_WL: cfg.whitelist_path = optarg; break;
        case O_JSON: cfg.json_log = true; break;
        case O_INTERVAL:
            if (parse_num("--interval", optarg, 86400, &v))
                return 2;
            cfg.interval_s = (uint32_t)v;
            break;
        case O_MIN_INTERVAL:
            if (parse_num("--min-interval", optarg, 86400, &v))
                return 2;
            cfg.min_interval_s = (uint32_t)v;
            break;
        case O_TTL:
            if (parse_num("--peer-ttl", optarg, 7 * 86400, &v))
                return 2;
            cfg.limits.peer_ttl_s = (uint32_t)v;
            break;
        case O_MAXT:
            if (parse_num("--max-torrents", optarg, 100000000, &v))
                return 2;
            cfg.limits.max_torrents = v;
            break;
        case O_MAXP:
            if (parse_num("--max-peers", optarg, 100000000, &v))
                return 2;
            cfg.limits.max_peers_total = v;
            break;
        case O_MAXPT:
            if (parse_num("--max-peers-per-torrent", optarg, 100000000, &v))
                return 2;
            cfg.limits.max_peers_per_torrent = v;
            break;
        case O_NUMWANT:
            if (parse_num("--numwant-max", optarg, 1000, &v))
                return 2;
            cfg.limits.max_numwant = (uint32_t)v;
            if (v < 50)
                cfg.limits.default_numwant = (uint32_t)v;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bitlib tracker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    bl_err err = {0};
    bl_loop *loop = bl_loop_new(&err);
    if (!loop) {
        fprintf(stderr, "bitlib tracker: %s\n", err.msg);
        return 1;
    }
    bl_trk_server *s = NULL;
    if (bl_loop_signal(loop, SIGINT, on_stop, NULL, &err) ||
        bl_loop_signal(loop, SIGTERM, on_stop, NULL, &err) ||
        !(s = bl_trk_server_new(loop, &cfg, &err)) ||
        bl_loop_signal(loop, SIGHUP, on_hup, s, &err)) {
        bl_error("tracker: %s", err.msg);
        bl_trk_server_free(s);
        bl_loop_free(loop);
        return 1;
    }
    int rc = bl_loop_run(loop);
    bl_trk_server_free(s);
    bl_loop_free(loop);
    return rc ? 1 : 0;
}
