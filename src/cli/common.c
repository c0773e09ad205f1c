#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/net.h"
#include "meta/sign.h"

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
    case CLI_OPT_SECRET:
        if (bl_secret_load(&o->secret, arg, &err) < 0) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            return -1;
        }
        return 1;
    case CLI_OPT_ALLOW_STOCK:
        o->allow_stock = true;
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

/* Write a whole file through a temporary name and rename, so a reader never
 * sees half of it. */
int cli_write_file(const char *path, const uint8_t *data, size_t len, bl_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return bl_fail(err, "%s: %s", path, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return bl_fail(err, "%s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return bl_fail(err, "%s: %s", path, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return bl_fail(err, "%s: %s", path, strerror(e));
    }
    return 0;
}

int cli_trust_option(cli_trust *o, const char *arg, const char *cmd)
{
    if (o->n == CLI_MAX_TRUST) {
        fprintf(stderr, "%s: at most %d --trust options\n", cmd, CLI_MAX_TRUST);
        return -1;
    }
    o->paths[o->n++] = arg;
    return 0;
}

int cli_trust_load(const cli_trust *o, bl_trust *t, const char *cmd)
{
    bl_err err;
    bl_trust_init(t);
    for (size_t i = 0; i < o->n; i++)
        if (bl_trust_add(t, o->paths[i], &err) < 0) {
            fprintf(stderr, "%s: --trust: %s\n", cmd, err.msg);
            return -1;
        }
    /* keys named on the command line replace the site's */
    if (o->n == 0 && bl_trust_add_site(t, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return -1;
    }
    return 0;
}

int cli_trust_check(const cli_trust *o, const bl_metainfo *mi, const char *desc, const char *cmd)
{
    bl_trust *t = malloc(sizeof *t);
    if (!t) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return -1;
    }
    int rc = cli_trust_load(o, t, cmd);
    bl_err err;
    if (rc == 0 && bl_trust_check(t, mi, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s: %s\n", cmd, desc, err.msg);
        rc = -1;
    }
    free(t);
    return rc;
}

int cli_peers_check(const cli_peers *o, const char *cmd)
{
    if (o->allow_stock && !o->secret.len) {
        fprintf(stderr, "%s: --allow-stock needs --secret-file (it admits stock clients to a "
                        "private swarm)\n", cmd);
        return -1;
    }
    return 0;
}

int cli_peers_private(const cli_peers *o, bl_swarm_config *cfg, const char *cmd)
{
    if (cli_peers_check(o, cmd) < 0)
        return -1;
    cfg->secret = o->secret.len ? &o->secret : NULL;
    cfg->allow_stock = o->allow_stock;
    return 0;
}
