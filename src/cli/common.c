#include <stdio.h>
#include <string.h>

#include "core/net.h"

#include "cli/cli.h"

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    }
    return false;
}

void cli_peers_init(cli_peers *o, const char *default_listen)
{
    memset(o, 0, sizeof *o);
    o->listen = default_listen;
    o->use_trackers = true;
    o->policy = BL_POLICY_COOPERATIVE;
}

int cli_peers_option(cli_peers *o, int c, const char *arg, const char *cmd)
{
    bl_err err;
    switch (c) {
    case 'l':
        o->listen = arg;
        return 1;
    case 'p':
        if (o->n == CLI_MAX_PEERS) {
            fprintf(stderr, "%s: at most %d --peer options\n", cmd, CLI_MAX_PEERS);
            return -1;
        }
        if (bl_net_parse_hostport(arg, &o->addr[o->n], &o->len[o->n], &err) < 0) {
            fprintf(stderr, "%s: --peer %s: %s\n", cmd, arg, err.msg);
            return -1;
        }
        o->n++;
        return 1;
    case 'T':
        o->use_trackers = false;
        return 1;
    case 'P':
        if (!strcmp(arg, "cooperative"))
            o->policy = BL_POLICY_COOPERATIVE;
        else if (!strcmp(arg, "stock"))
            o->policy = BL_POLICY_STOCK;
        else {
            fprintf(stderr, "%s: --policy '%s': cooperative or stock\n", cmd, arg);
            return -1;
        }
        return 1;
    }
    return 0;
}

void cli_peers_add(const cli_peers *o, bl_swarm *s)
{
    for (size_t i = 0; i < o->n; i++)
        bl_swarm_add_peer(s, (const struct sockaddr *)&o->addr[i], o->len[i]);
}

int cli_bad_option(const char *cmd, const char *arg)
{
    fprintf(stderr, "%s: unknown or incomplete option '%s'; see '%s --help'\n", cmd, arg, cmd);
    return 2;
}
