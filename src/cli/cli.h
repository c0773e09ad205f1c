/* cli: the subcommand table and what every subcommand shares.
 * Exit codes: 0 success, 1 failure of the operation, 2 bad usage. */
#ifndef BL_CLI_CLI_H
#define BL_CLI_CLI_H

#include <stdbool.h>

#include <sys/socket.h>

#include "core/err.h"
#include "core/version.h"
#include "meta/metainfo.h"
#include "meta/sign.h"
#include "swarm/secret.h"
#include "swarm/swarm.h"

struct bl_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

int cmd_create(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_tracker(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_launch(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_prefetch(int argc, char **argv);

/* Write a whole file atomically (temporary name, fsync, rename), mode 0644. */
int cli_write_file(const char *path, const uint8_t *data, size_t len, bl_err *err);

/* --trust PUB (a key file or a directory of *.pub keys; repeatable), shared by
 * mount, fetch, seed, run and verify.  Without --trust the site's keys count
 * (BL_TRUST_SITE_DIR, or $BITLIB_TRUST_DIR), when that directory exists. */
#define CLI_MAX_TRUST 32
#define CLI_OPT_TRUST 0x7472 /* getopt code of --trust, outside the letters */
typedef struct cli_trust {
    const char *paths[CLI_MAX_TRUST];
    size_t n;
} cli_trust;
int cli_trust_option(cli_trust *o, const char *arg, const char *cmd);
/* The trusted keys: -1 after printing one line (unreadable or malformed key). */
int cli_trust_load(const cli_trust *o, bl_trust *t, const char *cmd);
/* Refuse mi unless it passes bl_trust_check: -1 after printing
 * "CMD: DESC: <which check failed>". */
int cli_trust_check(const cli_trust *o, const bl_metainfo *mi, const char *desc, const char *cmd);
int cmd_depot(int argc, char **argv);
int cmd_offload(int argc, char **argv);

/* Report an unknown or incomplete option (getopt left it at argv[optind-1]) in
 * one line pointing at --help; returns 2, the usage-error exit code. */
int cli_bad_option(const char *cmd, const char *arg);

/* True if argv has -h/--help before a "--". */
bool cli_wants_help(int argc, char **argv);

/* How a node finds peers: the options seed, fetch and mount share
 * (--listen 'l', --peer 'p', --no-tracker 'T', --policy 'P', and for private
 * swarms --secret-file CLI_OPT_SECRET, --allow-stock CLI_OPT_ALLOW_STOCK). */
#define CLI_MAX_PEERS 256
#define CLI_OPT_SECRET 0x7373
#define CLI_OPT_ALLOW_STOCK 0x7374
typedef struct cli_peers {
    const char *listen;
    struct sockaddr_storage addr[CLI_MAX_PEERS];
    socklen_t len[CLI_MAX_PEERS];
    size_t n;
    bool use_trackers;
    enum bl_policy policy;
    bl_secret secret;             /* --secret-file, loaded at once (secret.len 0: none) */
    bool allow_stock;
} cli_peers;
/* The usage lines of --secret-file and --allow-stock, for every command's --help. */
#define CLI_SECRET_USAGE \
    "      --secret-file FILE  a private swarm: peers must prove they hold this job\n" \
    "                          secret (HMAC challenge in the extension handshake; never\n" \
    "                          sent) and the tracker wants its passkey; mode 0600\n" \
    "      --allow-stock       in a private swarm, also admit stock clients (they\n" \
    "                          cannot prove the secret)\n"

void cli_peers_init(cli_peers *o, const char *default_listen);
/* Handle option c with its argument: 1 if it was one of the shared options,
 * 0 if not, -1 after printing a one-line error (bad address, bad policy).
 * --peer addresses are resolved here, so a typo is reported at once. */
int cli_peers_option(cli_peers *o, int c, const char *arg, const char *cmd);
/* Hand the --peer addresses to the swarm. */
void cli_peers_add(const cli_peers *o, bl_swarm *s);
/* -1 after one line when --allow-stock comes without --secret-file. */
int cli_peers_check(const cli_peers *o, const char *cmd);
/* The private-swarm part of a swarm's configuration (after cli_peers_check). */
int cli_peers_private(const cli_peers *o, bl_swarm_config *cfg, const char *cmd);

#endif
