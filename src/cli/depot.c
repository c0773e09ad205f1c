/* bitlib depot: an intermediate node for result offload, a thin front on
 * offload/depot. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/evloop.h"
#include "core/log.h"
#include "core/net.h"
#include "offload/depot.h"
#include "offload/dpset.h"
#include "offload/units.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitlib depot --store DIR --capacity SIZE --listen ADDR:PORT --key-file FILE\n\n"
            "An intermediate node for 'bitlib offload': holds erasure-coded chunks of job\n"
            "results pushed by the center's manager, up to SIZE bytes, and serves them to\n"
            "the user's 'bitlib offload pull' and to other depots (Level-2 forwarding).\n"
            "Every acknowledged chunk is on disk for good (fsync, atomic rename), with its\n"
            "SHA-256 checked before it is served.  Runs in the foreground until SIGINT or\n"
            "SIGTERM.\n\n"
            "  --store DIR          where chunks live (created if absent)\n"
            "  --capacity SIZE      chunk bytes held at most (64M, 10G, ...); a chunk beyond\n"
            "                       it is refused with the reason, and the sender places it\n"
            "                       elsewhere\n"
            "  --listen ADDR:PORT   address to serve on (port 0 picks one, logged)\n"
            "  --key-file FILE      the offload key (mode 0600): senders must hold it to\n"
            "                       store; pullers need the pull key their manifest carries\n"
            "  -q, --quiet          log warnings and errors only\n"
            "  -h, --help           this text\n\n"
            "usage: bitlib depot status HOST:PORT --key-file FILE [--timeout SEC]\n\n"
            "Ask a running depot what it holds: chunks, bytes used and bytes free.  Exit 0\n"
            "when it answered, 1 when it is down or refused the key (the reason is printed).\n");
}

static void on_stop(bl_loop *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    bl_loop_stop(loop);
}

/* ---- bitlib depot status ---- */

struct ask {
    int done, ok;
    bl_dp_msg st;
    char why[256];
};

static void ask_ready(bl_dpset *s, size_t i, void *arg)
{
    (void)arg;
    bl_dpconn *c = bl_dpset_conn(s, i);
    bl_dp_empty(bl_dpconn_out(c), BL_DP_STAT);
    bl_dpconn_flush(c);
    bl_dpset_waiting(s, i, 1);
}

static void ask_msg(bl_dpset *s, size_t i, const bl_dp_msg *m, void *arg)
{
    struct ask *a = arg;
    if (m->type == BL_DP_STATUS) {
        a->st = *m;
        a->st.list = NULL;
        a->ok = 1;
    } else {
        snprintf(a->why, sizeof a->why, "unexpected answer from the depot");
    }
    a->done = 1;
    bl_dpset_waiting(s, i, 0);
}

static void ask_down(bl_dpset *s, size_t i, const char *why, void *arg)
{
    (void)s;
    (void)i;
    struct ask *a = arg;
    if (!a->done)
        snprintf(a->why, sizeof a->why, "%s", why);
    a->done = 1;
}

static int cmd_depot_status(int argc, char **argv)
{
    static const struct option longopts[] = {{"key-file", required_argument, NULL, 'k'},
                                              {"timeout", required_argument, NULL, 't'},
                                              {NULL, 0, NULL, 0}};
    const char *keyfile = NULL;
    unsigned long timeout = 10;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 't':
            timeout = strtoul(optarg, &end, 10);
            if (end == optarg || *end || timeout < 1 || timeout > 3600) {
                fprintf(stderr, "bitlib depot status: --timeout '%s': seconds, 1 to 3600\n", optarg);
                return 2;
            }
            break;
        default: return cli_bad_option("bitlib depot status", argv[optind - 1]);
        }
    }
    if (argc - optind != 1 || !keyfile) {
        fprintf(stderr, "bitlib depot status: needs HOST:PORT and --key-file; see 'bitlib depot --help'\n");
        return 2;
    }
    const char *name = argv[optind];
    bl_okey key;
    bl_err err;
    uint8_t id[BL_OFFLOAD_ID_LEN];
    if (bl_okey_load(&key, keyfile, &err) < 0 || bl_random(id, sizeof id, &err) < 0) {
        fprintf(stderr, "bitlib depot status: %s\n", err.msg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    bl_loop *loop = bl_loop_new(&err);
    struct ask a = {0};
    static const bl_dpset_ops ops = {ask_ready, ask_msg, ask_down};
    /* the status of the whole store needs the store key; the id is a fresh one, holding nothing */
    bl_dpset *set = loop ? bl_dpset_new(loop, &name, 1, BL_DP_ROLE_STORE, &key, id,
                                        (unsigned)timeout * 1000, &ops, &a, &err)
                         : NULL;
    memset(&key, 0, sizeof key);
    if (!set) {
        fprintf(stderr, "bitlib depot status: %s\n", err.msg);
        if (loop)
            bl_loop_free(loop);
        return 1;
    }
    while (!a.done && bl_loop_run_once(loop, 200) >= 0)
        ;
    bl_dpset_free(set);
    bl_loop_free(loop);
    if (!a.ok) {
        fprintf(stderr, "bitlib depot status: %s: %s\n", name, a.why);
        return 1;
    }
    printf("depot %s: %" PRIu64 " chunks held, %" PRIu64 " bytes used, %" PRIu64 " bytes free\n", name,
           a.st.held, a.st.used, a.st.free_bytes);
    return 0;
}

int cmd_depot(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "status") && !cli_wants_help(argc, argv))
        return cmd_depot_status(argc - 1, argv + 1);
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'}, {"capacity", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'}, {"key-file", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *store = NULL, *listen = NULL, *keyfile = NULL;
    uint64_t capacity = 0;
    int have_cap = 0, c;
    bl_err err;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'l': listen = optarg; break;
        case 'k': keyfile = optarg; break;
        case 'q': bl_log_set_level(BL_LOG_WARN); break;
        case 'c':
            if (bl_parse_bytes(optarg, &capacity, &err) < 0) {
                fprintf(stderr, "bitlib depot: --capacity: %s\n", err.msg);
                return 2;
            }
            have_cap = 1;
            break;
        case 'h': usage(stdout); return 0;
        default: return cli_bad_option("depot", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bitlib depot: unexpected argument '%s'; see 'bitlib depot --help'\n", argv[optind]);
        return 2;
    }
    if (!store || !have_cap || !listen || !keyfile) {
        fprintf(stderr, "bitlib depot: --store, --capacity, --listen and --key-file are required; see 'bitlib depot --help'\n");
        return 2;
    }
    bl_okey key;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (bl_okey_load(&key, keyfile, &err) < 0 || bl_net_parse_hostport(listen, &ss, &sl, &err) < 0) {
        fprintf(stderr, "bitlib depot: %s\n", err.msg);
        return 2;
    }
    bl_loop *loop = bl_loop_new(&err);
    if (!loop) {
        fprintf(stderr, "bitlib depot: %s\n", err.msg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    bl_depot *d = NULL;
    if (bl_loop_signal(loop, SIGINT, on_stop, NULL, &err) || bl_loop_signal(loop, SIGTERM, on_stop, NULL, &err) ||
        !(d = bl_depot_new(loop, store, capacity, &key, (struct sockaddr *)&ss, sl, &err))) {
        bl_error("depot: %s", err.msg);
        bl_loop_free(loop);
        return 1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    char a[BL_NET_ADDRSTRLEN];
    bl_depot_stats st;
    bl_depot_stats_get(d, &st);
    bl_depot_addr(d, &bound, &bl);
    bl_info("depot: listening on %s, store %s: %" PRIu64 " chunks, %" PRIu64 " of %" PRIu64 " bytes used",
            bl_net_format((struct sockaddr *)&bound, bl, a, sizeof a), store, st.chunks, st.used,
            st.capacity);
    int rc = bl_loop_run(loop) < 0 ? 1 : 0;
    bl_depot_free(d);
    bl_loop_free(loop);
    return rc;
}
