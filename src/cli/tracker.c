/* bitlib tracker: the built-in tracker daemon, a thin front on
 * tracker/server. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "swarm/secret.h"
#include "core/evloop.h"
#include "core/json.h"
#include "fs/ctl.h"
#include "core/log.h"
#include "core/net.h"
#include "swarm/tracker_client.h"
#include "tracker/server.h"

static int parse_num(const char *opt, const char *v, unsigned long max, unsigned long *out);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitlib tracker [--listen ADDR:PORT] [--interval SEC] [--whitelist FILE]\n"
            "                      [--secret-file FILE] [--json-log] [limits...]\n\n"
            "Serve BitTorrent announces and scrapes over HTTP (GET /announce, /scrape;\n"
            "BEP 3, compact peers BEP 23) and UDP (BEP 15) on the same port number.\n"
            "Runs in the foreground until SIGINT or SIGTERM; SIGHUP re-reads the whitelist.\n\n"
            "  --listen ADDR:PORT    address to serve on (default 0.0.0.0:6969; [::]:PORT\n"
            "                        for IPv6 and IPv4; port 0 picks a free port, logged)\n"
            "  --interval SEC        re-announce interval told to clients (default 1800)\n"
            "  --min-interval SEC    minimum interval told to clients (default interval/2)\n"
            "  --peer-ttl SEC        forget a peer silent this long (default 2 x interval,\n"
            "                        at least 900: some clients re-announce only every\n"
            "                        600 s whatever --interval says; set it lower only if\n"
            "                        every client honours --interval)\n"
            "  --whitelist FILE      serve only the info-hashes in FILE (40 hex digits per\n"
            "                        line, '#' comments), like opentracker's\n"
            "  --secret-file FILE    private swarms: hand out peers only to announces that\n"
            "                        carry the passkey FILE's job secret gives their\n"
            "                        info-hash (the nodes' --secret-file; see bitlib-seed(1))\n"
            "  --max-torrents N      torrents tracked at most (default 100000)\n"
            "  --max-peers N         peers tracked at most, all torrents (default 1000000)\n"
            "  --max-peers-per-torrent N  (default 100000)\n"
            "  --numwant-max N       peers in one reply at most (default 200; a client\n"
            "                        naming no numwant gets min(50, N))\n"
            "  --json-log            log lines as JSON objects\n"
            "  --verbose             also log one line per announce\n"
            "  -h, --help            this text\n\n"
            "usage: bitlib tracker probe --info-hash HEX [--port N] [--left N] [--keep]\n"
            "                            [--timeout SEC] URL...\n\n"
            "Announce once with bitlib's tracker client (each URL its own tier, tried in\n"
            "order) and print the peers received, one ADDR:PORT per line, then send\n"
            "event=stopped so that no peer is left registered where nobody listens.\n"
            "--keep skips that: the tracker then lists this address and --port (default\n"
            "6881) to others until its peer TTL, as if a peer were there (for tests).\n"
            "Exit 0 when a tracker answered (and took the stop), 1 otherwise.\n");
}

struct probe {
    int done, stopped, want_stop;
    bl_tracker_client *tc;
};

static void probe_peers(void *arg, const struct sockaddr_storage *peers, size_t n)
{
    struct probe *p = arg;
    for (size_t i = 0; i < n; i++) {
        char a[BL_NET_ADDRSTRLEN];
        printf("%s\n", bl_net_format((const struct sockaddr *)&peers[i], sizeof peers[i], a,
                                     sizeof a));
    }
    fflush(stdout);
    p->done = 1;
}

static void probe_stopped(void *arg) { ((struct probe *)arg)->stopped = 1; }

static void probe_timeout(bl_loop *loop, void *arg)
{
    (void)loop;
    *(int *)arg = 1;
}

static int cmd_probe(int argc, char **argv)
{
    static const struct option opts[] = {
        {"info-hash", required_argument, NULL, 'i'}, {"port", required_argument, NULL, 'p'},
        {"left", required_argument, NULL, 'l'},      {"stop", no_argument, NULL, 's'},
        {"keep", no_argument, NULL, 'k'},            {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    bl_tc_config cfg = {.port = 6881, .udp_timeout_ms = 1000, .http_timeout_ms = 5000,
                        .retry_min_s = 1, .retry_max_s = 2};
    const char *ih = NULL;
    unsigned long timeout = 20, v;
    uint64_t left = 1;
    struct probe pr = {.want_stop = 1};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': ih = optarg; break;
        case 's': pr.want_stop = 1; break; /* the default; kept for old scripts */
        case 'k': pr.want_stop = 0; break;
        case 'p':
            if (parse_num("--port", optarg, 65535, &v))
                return 2;
            cfg.port = (uint16_t)v;
            break;
        case 'l': {
            char *end;
            left = strtoull(optarg, &end, 10);
            if (!*optarg || *end) {
                fprintf(stderr, "bitlib tracker probe: --left wants a number\n");
                return 2;
            }
            break;
        }
        case 't':
            if (parse_num("--timeout", optarg, 3600, &timeout))
                return 2;
            break;
        default: return cli_bad_option("bitlib tracker probe", argv[optind - 1]);
        }
    }
    if (!ih || strlen(ih) != 40 || optind >= argc) {
        fprintf(stderr, "bitlib tracker probe: needs --info-hash (40 hex digits) and a URL\n");
        return 2;
    }
    for (int i = 0; i < 20; i++) {
        unsigned b;
        if (sscanf(ih + 2 * i, "%2x", &b) != 1) {
            fprintf(stderr, "bitlib tracker probe: --info-hash is not hex\n");
            return 2;
        }
        cfg.info_hash[i] = (uint8_t)b;
    }
    memcpy(cfg.peer_id, "-BL0100-", 8);
    for (int i = 8; i < 20; i++)
        cfg.peer_id[i] = (uint8_t)('a' + (getpid() + i * 7) % 26);
    int nurls = argc - optind;
    char ***tiers = calloc((size_t)nurls, sizeof *tiers);
    char **cells = calloc((size_t)nurls * 2, sizeof *cells);
    if (!tiers || !cells) {
        free(tiers);
        free(cells);
        return 1;
    }
    for (int i = 0; i < nurls; i++) {
        cells[2 * i] = argv[optind + i];
        tiers[i] = &cells[2 * i];
    }
    cfg.tiers = tiers;
    cfg.num_tiers = (size_t)nurls;
    cfg.on_peers = probe_peers;
    cfg.on_stopped = probe_stopped;
    cfg.arg = &pr;
    bl_err err = {0};
    bl_loop *loop = bl_loop_new(&err);
    if (loop)
        pr.tc = bl_tc_new(loop, &cfg, &err);
    int rc = 1;
    if (!loop || !pr.tc) {
        fprintf(stderr, "bitlib tracker probe: %s\n", err.msg);
        goto out;
    }
    bl_tc_set_stats(pr.tc, 0, 0, left);
    int expired = 0;
    uint64_t t = bl_loop_timer(loop, timeout * 1000, probe_timeout, &expired);
    while (!pr.done && !expired && bl_loop_run_once(loop, -1) >= 0)
        ;
    if (pr.done && pr.want_stop) {
        bl_tc_event(pr.tc, BL_TC_STOPPED);
        while (!pr.stopped && !expired && bl_loop_run_once(loop, -1) >= 0)
            ;
    }
    bl_loop_timer_cancel(loop, t);
    if (!pr.done)
        fprintf(stderr, "bitlib tracker probe: no tracker answered within %lu s (%s)\n", timeout,
                bl_tc_get_status(pr.tc)->last_error);
    rc = pr.done && (!pr.want_stop || pr.stopped) ? 0 : 1;
out:
    bl_tc_free(pr.tc);
    bl_loop_free(loop);
    free(tiers);
    free(cells);
    return rc;
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

/* `bitlib status` of a tracker (fs/ctl.h): peers and torrents tracked, what
 * it served, the announce rate over the last few seconds. */
typedef struct trk_status {
    bl_trk_server *s;
    bl_loop *loop;
    char listen[96];
    uint64_t start_ms, sample_ms, sample_announces;
    double announce_rate;
} trk_status;

static uint64_t announces(const bl_trk_server_stats *st)
{
    return st->http_announces + st->udp_announces;
}

static void sample_rate(bl_loop *loop, void *arg)
{
    trk_status *t = arg;
    uint64_t now = bl_loop_now_ms(loop), a = announces(bl_trk_server_get_stats(t->s));
    if (now > t->sample_ms)
        t->announce_rate = (double)(a - t->sample_announces) * 1000.0 / (double)(now - t->sample_ms);
    t->sample_ms = now;
    t->sample_announces = a;
    bl_loop_timer(loop, 5000, sample_rate, t);
}

static void tracker_status(void *arg, bl_buf *b)
{
    trk_status *t = arg;
    const bl_trk_server_stats *st = bl_trk_server_get_stats(t->s);
    const bl_trk_table *tab = bl_trk_server_table(t->s);
    bl_buf_printf(b, "{\"kind\":\"tracker\",\"pid\":%d,\"listen\":", (int)getpid());
    bl_json_cstr(b, t->listen);
    bl_buf_printf(b, ",\"uptime_s\":%.3f,\"torrents\":%zu,\"num_peers\":%zu,\"http_announces\":%llu,"
                     "\"udp_announces\":%llu,\"scrapes\":%llu,\"refused\":%llu,"
                     "\"rate_announces\":%.2f}",
                  (double)(bl_loop_now_ms(t->loop) - t->start_ms) / 1000.0,
                  bl_trk_table_torrents(tab), bl_trk_table_peers(tab),
                  (unsigned long long)st->http_announces, (unsigned long long)st->udp_announces,
                  (unsigned long long)(st->http_scrapes + st->udp_scrapes),
                  (unsigned long long)st->refused, t->announce_rate);
}

static bl_ctl *open_status_socket(trk_status *t, const char *listen)
{
    const char *colon = strrchr(listen, ':');
    int hl = colon ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(t->listen, sizeof t->listen, "%.*s:%u", hl, listen, bl_trk_server_port(t->s));
    char name[128], sock[PATH_MAX];
    snprintf(name, sizeof name, "tracker:%s", t->listen);
    bl_err err;
    bl_ctl *c = NULL;
    if (bl_ctl_default_path(name, ".sock", true, sock, sizeof sock, &err) < 0 ||
        !(c = bl_ctl_serve(t->loop, sock, tracker_status, t, &err)))
        bl_warn("tracker: no status socket: %s", err.msg);
    t->start_ms = t->sample_ms = bl_loop_now_ms(t->loop);
    bl_loop_timer(t->loop, 5000, sample_rate, t);
    return c;
}

static void on_hup(bl_loop *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    bl_trk_server_reload_whitelist(arg, NULL);
}

int cmd_tracker(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "probe") && !cli_wants_help(argc, argv))
        return cmd_probe(argc - 1, argv + 1);
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    enum { O_INTERVAL = 256, O_MIN_INTERVAL, O_TTL, O_WL, O_JSON, O_MAXT, O_MAXP, O_MAXPT,
           O_NUMWANT, O_SECRET };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"min-interval", required_argument, NULL, O_MIN_INTERVAL},
        {"peer-ttl", required_argument, NULL, O_TTL},
        {"whitelist", required_argument, NULL, O_WL},
        {"secret-file", required_argument, NULL, O_SECRET},
        {"json-log", no_argument, NULL, O_JSON},
        {"verbose", no_argument, NULL, 'v'},
        {"max-torrents", required_argument, NULL, O_MAXT},
        {"max-peers", required_argument, NULL, O_MAXP},
        {"max-peers-per-torrent", required_argument, NULL, O_MAXPT},
        {"numwant-max", required_argument, NULL, O_NUMWANT},
        {NULL, 0, NULL, 0},
    };
    bl_trk_server_config cfg = {.listen = "0.0.0.0:6969"};
    static bl_secret secret;
    unsigned long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case O_WL: cfg.whitelist_path = optarg; break;
        case O_SECRET: {
            bl_err err;
            if (bl_secret_load(&secret, optarg, &err) < 0) {
                fprintf(stderr, "bitlib tracker: %s\n", err.msg);
                return 2;
            }
            cfg.secret = &secret;
            break;
        }
        case O_JSON: cfg.json_log = true; break;
        case 'v': cfg.verbose = true; break;
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
            return cli_bad_option("bitlib tracker", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bitlib tracker: unexpected argument '%s'; see 'bitlib tracker --help'\n",
                argv[optind]);
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    bl_err perr;
    if (bl_net_parse_hostport(cfg.listen, &ss, &sslen, &perr) < 0) {
        fprintf(stderr, "bitlib tracker: --listen %s: %s\n", cfg.listen, perr.msg);
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
        fprintf(stderr, "bitlib tracker: %s\n", err.msg);
        bl_trk_server_free(s);
        bl_loop_free(loop);
        return 1;
    }
    trk_status ts = {.s = s, .loop = loop};
    bl_ctl *ctl = open_status_socket(&ts, cfg.listen);
    int rc = bl_loop_run(loop);
    bl_ctl_free(ctl);
    bl_trk_server_free(s);
    bl_loop_free(loop);
    return rc ? 1 : 0;
}
