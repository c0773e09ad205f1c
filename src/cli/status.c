/* bitlib status: ask a mount's daemon over its control socket (fs/ctl.h). */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "fs/ctl.h"
#include "fs/fusefs.h"

static const char status_usage[] =
    "usage: bitlib status [options] MOUNTPOINT\n"
    "\n"
    "Show what a mount's daemon is doing: pieces local and wanted (per priority class),\n"
    "bytes from seeders and from peers, peers, FUSE operation counters, reads waiting.\n"
    "\n"
    "The daemon listens on a unix socket named after the mount point: RUNDIR/<key>.sock,\n"
    "RUNDIR = /run/bitlib for root (else $XDG_RUNTIME_DIR/bitlib or /tmp/bitlib-<uid>),\n"
    "key = first 16 hex digits of SHA-1(canonical mount point path). The protocol is one\n"
    "request line, one JSON line back (ping, status, lookup PATH, fetch PATH,\n"
    "fetch-range OFF LEN PATH); see src/fs/ctl.h.\n"
    "\n"
    "options:\n"
    "      --json           print the daemon's JSON status object\n"
    "      --fetch PATH     make the file local and print the answer when it is\n"
    "                       (PATH set-relative or under the mount point)\n"
    "      --lookup PATH    what the description says about PATH (no network)\n"
    "      --socket PATH    the daemon's control socket (default: derived as above)\n"
    "      --timeout SEC    give up waiting for an answer after SEC seconds (default 10;\n"
    "                       --fetch waits as long as the daemon does)\n"
    "  -h, --help           this text\n";

/* Top-level numbers of the status object (our own, flat, unique keys). */
static unsigned long long num(const char *js, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static const char *str(const char *js, const char *key, char *out, size_t outsz)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(js, pat);
    out[0] = 0;
    if (!p)
        return out;
    p += strlen(pat);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < outsz)
        n++;
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

static void human(const char *js)
{
    char mode[32], name[256], mp[PATH_MAX];
    double mib = 1024.0 * 1024.0;
    printf("%s: %s, %s mode\n", str(js, "mountpoint", mp, sizeof mp), str(js, "name", name,
                                                                          sizeof name),
           str(js, "mode", mode, sizeof mode));
    printf("pieces     %llu of %llu local, %llu wanted (deadline %llu, opened %llu, prefetch "
           "%llu, bulk %llu)\n",
           num(js, "pieces_had"), num(js, "pieces_total"), num(js, "pieces_wanted"),
           num(js, "deadline"), num(js, "opened"), num(js, "prefetch"), num(js, "bulk"));
    printf("bytes      %.2f MiB down (%.2f MiB from seeders), %.2f MiB up, %.2f MiB wasted\n",
           (double)num(js, "bytes_downloaded") / mib, (double)num(js, "bytes_from_seeders") / mib,
           (double)num(js, "bytes_uploaded") / mib, (double)num(js, "bytes_wasted") / mib);
    printf("peers      %llu connected, %llu seeding\n", num(js, "num_peers"),
           num(js, "peers_seeding"));
    printf("fuse       %llu lookups (%llu negative), %llu getattrs, %llu opens, %llu reads "
           "(%llu from cache, %llu waited, %llu timed out)\n",
           num(js, "lookups"), num(js, "lookups_negative"), num(js, "getattrs"),
           num(js, "opens"), num(js, "reads"), num(js, "cache_hits"), num(js, "reads_waited"),
           num(js, "read_timeouts"));
    printf("waiting    %llu reads/fetches\n", num(js, "reads_waiting"));
    char cache[PATH_MAX], cerr[128];
    str(js, "cache", cache, sizeof cache);
    str(js, "cache_error", cerr, sizeof cerr);
    printf("cache      %s, %llu pieces could not be written%s%s%s\n", cache,
           num(js, "cache_write_errors"), cerr[0] ? "; CANNOT STORE PIECES: " : "", cerr,
           cerr[0] ? " (downloads paused, reads of missing data fail at once)" : "");
}

int cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"fetch", required_argument, NULL, 'F'},
        {"lookup", required_argument, NULL, 'K'},
        {"socket", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib status";
    bool json = false;
    const char *fetch = NULL, *lookup = NULL, *sock = NULL;
    double timeout = 10;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'J': json = true; break;
        case 'F': fetch = optarg; break;
        case 'K': lookup = optarg; break;
        case 'S': sock = optarg; break;
        case 't': {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || !(timeout > 0 && timeout <= 86400)) {
                fprintf(stderr, "%s: --timeout '%s': seconds, more than 0\n", cmd, optarg);
                return 2;
            }
            break;
        }
        case 'h': fputs(status_usage, stdout); return 0;
        default:
            return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (argc - optind != 1 && !(sock && argc == optind)) {
        fprintf(stderr, "%s: needs MOUNTPOINT (or --socket PATH); see '%s --help'\n", cmd, cmd);
        return 2;
    }
    bl_err err = {.offset = 0};
    char mp[PATH_MAX] = "", sock_buf[PATH_MAX];
    if (argc - optind == 1 && bl_fusefs_canonical(argv[optind], mp, sizeof mp, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (!sock) {
        if (bl_ctl_default_path(mp, ".sock", false, sock_buf, sizeof sock_buf, &err) < 0) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            return 1;
        }
        sock = sock_buf;
    }
    bl_buf req, reply;
    bl_buf_init(&req);
    bl_buf_init(&reply);
    int wait_ms = (int)(timeout * 1000);
    if (fetch) {
        bl_buf_printf(&req, "fetch %s", fetch);
        wait_ms = -1;
    } else if (lookup) {
        bl_buf_printf(&req, "lookup %s", lookup);
    } else {
        bl_buf_puts(&req, "status");
    }
    int rc = 1;
    if (req.oom || strchr((const char *)req.data, '\n')) {
        fprintf(stderr, "%s: a path may not contain a newline\n", cmd);
        goto out;
    }
    if (bl_ctl_request(sock, (const char *)req.data, wait_ms, &reply, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    const char *js = (const char *)reply.data;
    if (fetch || lookup) {
        puts(js);
        rc = strncmp(js, "{\"ok\":true", 10) == 0 ? 0 : 1;
    } else {
        if (json)
            puts(js);
        else
            human(js);
        rc = 0;
    }
out:
    bl_buf_free(&req);
    bl_buf_free(&reply);
    return rc;
}
