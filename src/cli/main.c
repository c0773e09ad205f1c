/* bitlib: one binary, git-style subcommands.  Each subcommand lives in its
 * own file as a thin front on the library. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"

static const struct bl_cmd commands[] = {
    {"create", "build a description file from directories", cmd_create},
    {"inspect", "show a description file (human or --json)", cmd_inspect},
    {"seed", "verify a local copy of a set, then serve it to peers", cmd_seed},
    {"fetch", "download a set into a directory from peers (no FUSE)", cmd_fetch},
    {"tracker", "tracker daemon: HTTP and UDP announce, scrape", cmd_tracker},
    {"mount", "mount a set read-only (FUSE), fetching data from peers as needed", cmd_mount},
    {"status", "show what a mount's daemon is doing (human or --json)", cmd_status},
    {"run", "run one rank of a job with the set mounted (one daemon per node)", cmd_run},
    {"launch", "a job in one line: tracker, description, seeders, bitlib run", cmd_launch},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bitlib [--version] [--help] <command> [<args>]\n\n"
               "bitlib moves read-only file sets (shared libraries) to HPC nodes peer to peer\n"
               "over the BitTorrent protocol.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'bitlib <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("bitlib %s\n", BL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            bl_log_set_tag("bitlib");
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "bitlib: '%s' is not a command; see 'bitlib --help'\n", argv[1]);
    return 2;
}
