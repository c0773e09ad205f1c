/* bitlib status: ask a mount's daemon over its control socket (fs/ctl.h). */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "fs/ctl.h"
#include "core/json.h"
#include "fs/fusefs.h"
#include "fs/users.h"

static const char status_usage[] =
    "usage: bitlib status [options] [MOUNTPOINT | DIR]\n"
    "\n"
    "Without an argument: one line for every bitlib daemon of this user (root: of every\n"
    "user) -- mounts, seeders, fetches, trackers -- with pid, mode, progress, rates, peers,\n"
    "cache and log, and every stale mount (its daemon gone).\n"
    "\n"
    "With MOUNTPOINT (symlinks to it work): what its daemon is doing: pieces local and\n"
    "wanted (per priority class), bytes from seeders and from peers, peers, FUSE operation\n"
    "counters, reads waiting, the cache and its errors.  With the DIR a 'bitlib seed' or\n"
    "'bitlib fetch' serves: that process's pieces, peers, rates and bytes served.\n"
    "\n"
    "Every daemon listens on a unix socket RUNDIR/<key>.sock, RUNDIR = /run/bitlib for\n"
    "root (else $XDG_RUNTIME_DIR/bitlib or /tmp/bitlib-<uid>), key = first 16 hex digits of\n"
    "SHA-1 of the canonical mount point (\"seed:DIR\", \"fetch:DIR\", \"tracker:ADDR:PORT\"\n"
    "for the others).  The protocol is one request line, one JSON line back (ping,\n"
    "status, opened, lookup PATH, fetch PATH, fetch-range OFF LEN PATH); see src/fs/ctl.h.\n"
    "\n"
    "options:\n"
    "      --json           print the JSON status object (without an argument: an array\n"
    "                       of them, each with its \"socket\")\n"
    "      --fetch PATH     make the file local and print the answer when it is\n"
    "                       (PATH set-relative or under the mount point)\n"
    "      --lookup PATH    what the description says about PATH (no network)\n"
    "      --socket PATH    the daemon's control socket (default: derived as above)\n"
    "      --timeout SEC    give up waiting for an answer after SEC seconds (default 10;\n"
    "                       --fetch waits as long as the daemon does)\n"
    "      --opened         the files applications opened through MOUNTPOINT, in the\n"
    "                       order of their first open, one set-relative path per line\n"
    "                       (a trace for 'bitlib prefetch learn')\n"
    "  -h, --help           this text\n";

/* Top-level numbers of the status object (our own, flat, unique keys). */
static unsigned long long num(const char *js, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static double dbl(const char *js, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    return p ? strtod(p + strlen(pat), NULL) : 0;
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

static void human_mount(const char *js)
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


static double mibps(unsigned long long v) { return (double)v / (1024.0 * 1024.0); }

static void human_swarm(const char *js)
{
    char kind[16], dir[PATH_MAX], name[256], listen[96];
    printf("%s %s: %s (%s), listening on %s\n", str(js, "kind", kind, sizeof kind),
           str(js, "dir", dir, sizeof dir), str(js, "name", name, sizeof name),
           strstr(js, "\"complete\":true") ? "complete" : "incomplete",
           str(js, "listen", listen, sizeof listen));
    printf("pieces     %llu of %llu local\n", num(js, "pieces_had"), num(js, "pieces_total"));
    printf("bytes      %.2f MiB served, %.2f MiB down (%.2f MiB from seeders)\n",
           mibps(num(js, "bytes_uploaded")), mibps(num(js, "bytes_downloaded")),
           mibps(num(js, "bytes_from_seeders")));
    printf("rates      %.2f MiB/s up, %.2f MiB/s down\n", mibps(num(js, "rate_up")),
           mibps(num(js, "rate_down")));
    printf("peers      %llu connected, %llu seeding\n", num(js, "num_peers"),
           num(js, "peers_seeding"));
}

static void human_tracker(const char *js)
{
    char listen[96];
    printf("tracker %s: %llu torrents, %llu peers; served %llu http + %llu udp announces, "
           "%llu scrapes, refused %llu\n",
           str(js, "listen", listen, sizeof listen), num(js, "torrents"), num(js, "num_peers"),
           num(js, "http_announces"), num(js, "udp_announces"), num(js, "scrapes"),
           num(js, "refused"));
}

static void human(const char *js)
{
    char kind[16];
    str(js, "kind", kind, sizeof kind);
    if (!strcmp(kind, "tracker"))
        human_tracker(js);
    else if (!strcmp(kind, "seed") || !strcmp(kind, "fetch"))
        human_swarm(js);
    else
        human_mount(js);
}

/* ---- every daemon of this user (root: all) ------------------------------- */

typedef struct listing {
    bool json;
    unsigned n;
    int timeout_ms;
    bl_buf answered;   /* mount points that answered, '\n'-separated */
} listing;

static void list_line(const char *sock, const char *js)
{
    char kind[16], where[PATH_MAX], mode[16], cache[PATH_MAX], log[PATH_MAX];
    str(js, "kind", kind, sizeof kind);
    if (!strcmp(kind, "tracker")) {
        printf("%-7s %7llu  %s  %llu torrents, %llu peers, %.1f announces/s, socket %s\n", kind,
               num(js, "pid"), str(js, "listen", where, sizeof where), num(js, "torrents"),
               num(js, "num_peers"), dbl(js, "rate_announces"), sock);
        return;
    }
    bool mount = !kind[0] || !strcmp(kind, "mount");
    str(js, mount ? "mountpoint" : "dir", where, sizeof where);
    str(js, "mode", mode, sizeof mode);
    str(js, "cache", cache, sizeof cache);
    str(js, "log", log, sizeof log);
    unsigned long long had = num(js, "pieces_had"), total = num(js, "pieces_total");
    printf("%-7s %7llu  %s  %s%s%llu/%llu pieces (%.0f%%), down %.2f up %.2f MiB/s, %llu peers",
           mount ? "mount" : kind, num(js, "pid"), where, mode, mode[0] ? ", " : "", had, total,
           total ? 100.0 * (double)had / (double)total : 100.0, mibps(num(js, "rate_down")),
           mibps(num(js, "rate_up")), num(js, "num_peers"));
    if (cache[0])
        printf(", cache %s", cache);
    if (strstr(js, "\"cache_error\":\""))
        printf(" (CANNOT STORE PIECES)");
    printf(", log %s\n", log[0] ? log : "(stderr)");
}

static void list_dir(const char *dir, void *arg)
{
    listing *l = arg;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".sock"))
            continue;
        char sock[PATH_MAX];
        snprintf(sock, sizeof sock, "%s/%s", dir, de->d_name);
        bl_buf reply;
        bl_buf_init(&reply);
        bl_err err;
        if (bl_ctl_request(sock, "status", l->timeout_ms, &reply, &err) == 0 && reply.len &&
            reply.data[0] == '{') {
            const char *js = (const char *)reply.data;
            if (l->json) {
                printf("%s{\"socket\":", l->n ? "," : "[");
                bl_buf sb;
                bl_buf_init(&sb);
                bl_json_cstr(&sb, sock);
                fwrite(sb.data, 1, sb.len, stdout);
                bl_buf_free(&sb);
                printf(",%s", js + 1);
            } else {
                list_line(sock, js);
            }
            char mp[PATH_MAX];
            if (str(js, "mountpoint", mp, sizeof mp)[0])
                bl_buf_printf(&l->answered, "%s\n", mp);
            l->n++;
        }
        bl_buf_free(&reply);
    }
    closedir(d);
}

static void list_stale(const char *mp, void *arg)
{
    listing *l = arg;
    char pat[PATH_MAX + 2];
    snprintf(pat, sizeof pat, "%s\n", mp);
    if (l->answered.len && memmem(l->answered.data, l->answered.len, pat, strlen(pat)))
        return;
    /* a mount of another user that root cannot ask, or a dead daemon's */
    char sock[PATH_MAX];
    bl_err err;
    bl_buf b;
    bl_buf_init(&b);
    bool alive = bl_ctl_default_path(mp, ".sock", false, sock, sizeof sock, &err) == 0 &&
                 bl_ctl_request(sock, "ping", l->timeout_ms, &b, &err) == 0;
    bl_buf_reset(&b);
    if (alive) {
        bl_buf_free(&b);
        return;
    }
    if (l->json) {
        bl_json_cstr(&b, mp);
        printf("%s{\"kind\":\"mount\",\"mountpoint\":%.*s,\"stale\":true}", l->n ? "," : "[",
               (int)b.len, (const char *)b.data);
    } else {
        printf("%-7s %7s  %s  STALE: no daemon answers; detach it with 'fusermount3 -uz %s'\n",
               "mount", "-", mp, mp);
    }
    bl_buf_free(&b);
    l->n++;
}

static int list_all(bool json, int timeout_ms)
{
    listing l = {.json = json, .timeout_ms = timeout_ms};
    bl_buf_init(&l.answered);
    if (!json)
        printf("%-7s %7s  %s\n", "KIND", "PID", "WHERE, MODE, PROGRESS, RATES, PEERS, CACHE, LOG");
    bl_ctl_runtime_dirs(list_dir, &l);
    bl_mount_bitlib_at(NULL, list_stale, &l);
    if (json)
        puts(l.n ? "]" : "[]");
    else if (!l.n)
        printf("(no bitlib daemon runs for this user)\n");
    bl_buf_free(&l.answered);
    return 0;
}

struct key_search {
    const char *base;    /* "<key>.sock" */
    char found[PATH_MAX];
};

static void key_in_dir(const char *dir, void *arg)
{
    struct key_search *k = arg;
    char p[PATH_MAX];
    if (!k->found[0] && snprintf(p, sizeof p, "%s/%s", dir, k->base) < (int)sizeof p &&
        access(p, F_OK) == 0)
        snprintf(k->found, sizeof k->found, "%s", p);
}

/* The socket for PATH: the mount point's (in this user's runtime directory,
 * for root in any user's), else a seed's or fetch's of DIR, the first that
 * exists. */
static int find_socket(const char *path, char *mp, size_t mpsz, char *sock, size_t socksz,
                       bl_err *err)
{
    if (bl_fusefs_canonical(path, mp, mpsz, err) < 0)
        return -1;
    if (bl_ctl_default_path(mp, ".sock", false, sock, socksz, err) < 0)
        return -1;
    if (access(sock, F_OK) == 0)
        return 0;
    struct key_search k = {.base = strrchr(sock, '/') + 1};
    bl_ctl_runtime_dirs(key_in_dir, &k);
    if (k.found[0]) {
        snprintf(sock, socksz, "%s", k.found);
        return 0;
    }
    char real[PATH_MAX], name[PATH_MAX + 8], alt[PATH_MAX];
    static const char *const kinds[] = {"seed", "fetch"};
    if (realpath(path, real))
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "%s:%s", kinds[i], real);
            if (bl_ctl_default_path(name, ".sock", false, alt, sizeof alt, NULL) == 0 &&
                access(alt, F_OK) == 0) {
                snprintf(sock, socksz, "%s", alt);
                return 0;
            }
        }
    return 0; /* the mount point's: the error will say nothing answers */
}

/* Nothing answered for mp: say whether it is a stale mount or nothing. */
static void no_daemon(const char *cmd, const char *mp, const char *sock)
{
    if (bl_mount_bitlib_at(mp, NULL, NULL))
        fprintf(stderr, "%s: %s is a stale mount: its daemon is gone; detach it with "
                        "'fusermount3 -uz %s' (as root: 'umount -l %s')\n", cmd, mp, mp, mp);
    else
        fprintf(stderr, "%s: no bitlib daemon serves %s (nothing answers on %s); 'bitlib "
                        "status' lists those that run\n", cmd, mp, sock);
}

/* The "opened" answer as one path per line (--json: as it came). */
static int print_opened(const char *cmd, const char *js, bool json)
{
    if (json) {
        puts(js);
        return 0;
    }
    const char *p = strstr(js, "\"opened\":[");
    if (strncmp(js, "{\"ok\":true", 10) != 0 || !p) {
        fprintf(stderr, "%s: the daemon does not keep the open order (%s); is it older than "
                        "this bitlib?\n", cmd, js);
        return 1;
    }
    p += strlen("\"opened\":[");
    static char path[BL_CTL_LINE_MAX];
    while (*p == '"') {
        p = bl_json_unstr(p, path, sizeof path);
        if (!p) {
            fprintf(stderr, "%s: malformed answer from the daemon\n", cmd);
            return 1;
        }
        puts(path);
        if (*p == ',')
            p++;
    }
    return 0;
}

int cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"fetch", required_argument, NULL, 'F'},
        {"lookup", required_argument, NULL, 'K'},
        {"opened", no_argument, NULL, 'O'},
        {"socket", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib status";
    bool json = false, opened = false;
    const char *fetch = NULL, *lookup = NULL, *sock = NULL;
    double timeout = 10;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'J': json = true; break;
        case 'F': fetch = optarg; break;
        case 'K': lookup = optarg; break;
        case 'O': opened = true; break;
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
    if (argc - optind > 1) {
        fprintf(stderr, "%s: one MOUNTPOINT or DIR at most; see '%s --help'\n", cmd, cmd);
        return 2;
    }
    if (argc == optind && !sock) {
        if (fetch || lookup || opened) {
            fprintf(stderr, "%s: --fetch, --lookup and --opened need MOUNTPOINT; see '%s "
                            "--help'\n", cmd, cmd);
            return 2;
        }
        return list_all(json, (int)(timeout * 1000));
    }
    bl_err err = {.offset = 0};
    char mp[PATH_MAX] = "", sock_buf[PATH_MAX];
    if (!sock) {
        if (find_socket(argv[optind], mp, sizeof mp, sock_buf, sizeof sock_buf, &err) < 0) {
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
    } else if (opened) {
        bl_buf_puts(&req, "opened");
    } else {
        bl_buf_puts(&req, "status");
    }
    int rc = 1;
    if (req.oom || strchr((const char *)req.data, '\n')) {
        fprintf(stderr, "%s: a path may not contain a newline\n", cmd);
        goto out;
    }
    if (bl_ctl_request(sock, (const char *)req.data, wait_ms, &reply, &err) < 0) {
        if (mp[0] && strstr(err.msg, "no bitlib daemon answers"))
            no_daemon(cmd, mp, sock);
        else
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    const char *js = (const char *)reply.data;
    if (opened) {
        rc = print_opened(cmd, js, json);
    } else if (fetch || lookup) {
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
