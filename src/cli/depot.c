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
#include "offload/units.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitlib depot --store DIR --capacity SIZE --listen ADDR:PORT --key FILE\n\n"
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
            "  --key FILE           the offload key (mode 0600): senders must hold it to\n"
            "                       store; pullers need the pull key their manifest carries\n"
            "  -q, --quiet          log warnings and errors only\n"
            "  -h, --help           this text\n");
}

static void on_stop(bl_loop *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    bl_loop_stop(loop);
}

int cmd_depot(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'}, {"capacity", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'}, {"key", required_argument, NULL, 'k'},
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
        fprintf(stderr, "bitlib depot: --store, --capacity, --listen and --key are required; see 'bitlib depot --help'\n");
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
