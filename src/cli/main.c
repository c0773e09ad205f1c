/* bitlib: one binary, git-style subcommands.  Each subcommand lives in its
 * own file as a thin front on the library. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"

static const struct bl_cmd commands[] = {
    {"create", "build a description file from directories", cmd_create},
    {"keygen", "make an Ed25519 key pair for signing description files", cmd_keygen},
    {"sign", "sign a description file (info-hash and per-job section)", cmd_sign},
    {"verify", "check a description file's signature against trusted keys", cmd_verify},
    {"inspect", "show a description file (human or --json)", cmd_inspect},
    {"seed", "verify a local copy of a set, then serve it to peers", cmd_seed},
    {"fetch", "download a set into a directory from peers (no FUSE)", cmd_fetch},
    {"tracker", "tracker daemon: HTTP and UDP announce, scrape", cmd_tracker},
    {"mount", "mount a set read-only (FUSE), fetching data from peers as needed", cmd_mount},
    {"status", "show what a mount's daemon is doing (human or --json)", cmd_status},
    {"run", "run one rank of a job with the set mounted (one daemon per node)", cmd_run},
    {"launch", "a job in one line: tracker, description, seeders, bitlib run", cmd_launch},
    {"cache", "list node caches; remove old ones and what killed jobs left", cmd_cache},
    {"prefetch", "learn a description's prefetch list from jobs' first-open traces",
     cmd_prefetch},
    {"offload", "offload job results, erasure coded, to depots; pull them back", cmd_offload},
    {"depot", "an intermediate node that holds offloaded chunks", cmd_depot},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bitlib [--version] [--help] <command> [<args>]\n"
               "       bitlib help <command>     bitlib version\n\n"
               "bitlib moves read-only file sets (shared libraries) to HPC nodes peer to peer\n"
               "over the BitTorrent protocol.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'bitlib <command> --help' describes a command.\n");
}

static const struct bl_cmd *find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--version") || !strcmp(a, "-V") || !strcmp(a, "version")) {
        printf("bitlib %s\n", BL_VERSION);
        return 0;
    }
    if (!strcmp(a, "help") && argc > 2) {
        /* bitlib help CMD: the command's own --help */
        const struct bl_cmd *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "bitlib help: '%s' is not a command; see 'bitlib --help'\n", argv[2]);
            return 2;
        }
        char *args[] = {argv[2], "--help", NULL};
        return c->run(2, args);
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
        usage(stdout);
        return 0;
    }
    const struct bl_cmd *c = find(a);
    if (c) {
        bl_log_set_tag("bitlib");
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "bitlib: '%s' is not a command; see 'bitlib --help'\n", a);
    return 2;
}
