/* bitlib cache ls, bitlib cache gc: node caches that outlive jobs, and the
 * debris of killed ones (fs/cachedir.h, launch/sweep.h). */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "fs/cache.h"
#include "fs/cachedir.h"
#include "fs/ctl.h"
#include "launch/sweep.h"
#include "offload/units.h"

static const char cache_usage[] =
    "usage: bitlib cache ls [--json] [DIR...]\n"
    "       bitlib cache gc [--max-size SIZE] [--older-than AGE] [--dry-run] [DIR...]\n"
    "\n"
    "Node caches (the verified pieces a mount keeps, see bitlib mount --cache) outlive\n"
    "jobs, so the next job with the same description starts warm.  These commands list\n"
    "them and remove those nobody needs; a cache a live daemon holds is never removed.\n"
    "\n"
    "  ls   one line per cache: in use (by which daemon pid and mount) or free, bytes on\n"
    "       disk, files, last use, path.  A line per leftover of an interrupted gc too.\n"
    "  gc   first clears what killed jobs and dead daemons left (a stale FUSE mount is\n"
    "       detached; in the runtime directory a dead socket, a registry without live\n"
    "       holders, an unused mount point are removed; logs stay), then removes free\n"
    "       caches: those last used before AGE ago (--older-than), then the least\n"
    "       recently used until all caches together take at most SIZE (--max-size).\n"
    "       Without either option no cache is removed.  One line per thing removed.\n"
    "\n"
    "DIR is a cache root (a directory of caches named by info-hash) or a cache itself\n"
    "(a --cache DIR given to mount or run).  Default: this user's root,\n"
    "/dev/shm/bitlib-<uid> (root: every user's), and $BITLIB_RUNTIME_DIR/caches when\n"
    "that is set.  The runtime directories swept are those 'bitlib status' lists\n"
    "(root: every user's).\n"
    "\n"
    "options:\n"
    "      --json             ls: a JSON array of caches\n"
    "      --max-size SIZE    gc: keep all caches together within SIZE (e.g. 2G, 512M)\n"
    "      --older-than AGE   gc: remove free caches last used AGE ago or earlier\n"
    "                         (e.g. 3600, 30m, 12h, 7d, 2w)\n"
    "  -n, --dry-run          gc: say what would be removed, remove nothing\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 done (gc: also when something in use was left alone), 1 something\n"
    "could not be removed or read, 2 bad usage.\n";

#define MAX_CACHES 4096

typedef struct cache_list {
    bl_cachedir *v;
    size_t n, cap;
    char (*trash)[PATH_MAX];
    uint64_t *trash_bytes;
    size_t ntrash;
    int failures;
} cache_list;

static void collect(const bl_cachedir *c, bool trash, void *arg)
{
    cache_list *l = arg;
    if (trash) {
        if (l->ntrash < MAX_CACHES) {
            snprintf(l->trash[l->ntrash], PATH_MAX, "%s", c->path);
            l->trash_bytes[l->ntrash++] = c->bytes;
        }
        return;
    }
    if (l->n < MAX_CACHES)
        l->v[l->n++] = *c;
}

/* A DIR argument: a cache itself, or a root of caches. */
static void collect_arg(cache_list *l, const char *dir, const char *cmd)
{
    bl_cachedir c;
    bl_err err;
    char lock[PATH_MAX];
    struct stat st;
    snprintf(lock, sizeof lock, "%s/" BL_CACHE_LOCK, dir);
    if (lstat(lock, &st) == 0) {
        if (bl_cachedir_stat(dir, &c, &err) == 0)
            collect(&c, false, l);
        else {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            l->failures++;
        }
        return;
    }
    if (bl_cachedir_scan(dir, collect, l, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        l->failures++;
    }
}

static void collect_defaults(cache_list *l)
{
    char root[PATH_MAX];
    bl_err err;
    if (geteuid() == 0) {
        /* root looks after every user's default caches */
        DIR *d = opendir("/dev/shm");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char *end;
            if (strncmp(de->d_name, "bitlib-", 7) || !de->d_name[7])
                continue;
            unsigned long uid = strtoul(de->d_name + 7, &end, 10);
            struct stat st;
            snprintf(root, sizeof root, "/dev/shm/%s", de->d_name);
            /* a root whose owner is not the uid in its name is not one we made */
            if (*end || lstat(root, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid)
                continue;
            bl_cachedir_scan(root, collect, l, &err);
        }
        if (d)
            closedir(d);
    } else if (bl_cache_default_root(root, sizeof root, false, &err) == 0) {
        bl_cachedir_scan(root, collect, l, &err);
    }
    const char *emulated = getenv("BITLIB_RUNTIME_DIR");
    if (emulated && emulated[0] == '/' &&
        snprintf(root, sizeof root, "%s/caches", emulated) < (int)sizeof root &&
        access(root, R_OK | X_OK) == 0)
        bl_cachedir_scan(root, collect, l, &err);
}

static int collect_all(cache_list *l, int argc, char **argv, const char *cmd)
{
    memset(l, 0, sizeof *l);
    l->v = calloc(MAX_CACHES, sizeof *l->v);
    l->trash = calloc(MAX_CACHES, sizeof *l->trash);
    l->trash_bytes = calloc(MAX_CACHES, sizeof *l->trash_bytes);
    if (!l->v || !l->trash || !l->trash_bytes) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return -1;
    }
    if (argc == 0)
        collect_defaults(l);
    for (int i = 0; i < argc; i++)
        collect_arg(l, argv[i], cmd);
    return 0;
}

static void free_list(cache_list *l)
{
    free(l->v);
    free(l->trash);
    free(l->trash_bytes);
}

static void human_bytes(uint64_t b, char *out, size_t outsz)
{
    if (b >= (1ull << 30))
        snprintf(out, outsz, "%.1fG", (double)b / (1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(out, outsz, "%.1fM", (double)b / (1ull << 20));
    else if (b >= 1024)
        snprintf(out, outsz, "%.1fK", (double)b / 1024);
    else
        snprintf(out, outsz, "%" PRIu64, b);
}

static void human_age(time_t t, char *out, size_t outsz)
{
    long long s = (long long)(time(NULL) - t);
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, outsz, "%llds ago", s);
    else if (s < 7200)
        snprintf(out, outsz, "%lldm ago", s / 60);
    else if (s < 2 * 86400)
        snprintf(out, outsz, "%lldh ago", s / 3600);
    else
        snprintf(out, outsz, "%lldd ago", s / 86400);
}

static void state_text(const bl_cachedir *c, char *out, size_t outsz)
{
    if (c->held)
        snprintf(out, outsz, "in use by pid %d%s%s", (int)c->pid, c->mount[0] ? ", mount " : "",
                 c->mount);
    else
        snprintf(out, outsz, "free");
}

static int cache_ls(int argc, char **argv, bool json)
{
    cache_list l;
    if (collect_all(&l, argc, argv, "bitlib cache ls") < 0)
        return 1;
    bl_buf b;
    bl_buf_init(&b);
    if (json) {
        bl_buf_putc(&b, '[');
        for (size_t i = 0; i < l.n; i++) {
            const bl_cachedir *c = &l.v[i];
            bl_buf_printf(&b, "%s{\"path\":", i ? "," : "");
            bl_json_cstr(&b, c->path);
            bl_buf_printf(&b, ",\"info_hash\":");
            bl_json_cstr(&b, c->info_hash);
            bl_buf_printf(&b, ",\"in_use\":%s,\"pid\":%d,\"mount\":", c->held ? "true" : "false",
                          (int)c->pid);
            bl_json_cstr(&b, c->mount);
            bl_buf_printf(&b, ",\"bytes\":%" PRIu64 ",\"files\":%" PRIu64
                          ",\"last_use\":%lld}", c->bytes, c->files, (long long)c->last_use);
        }
        for (size_t i = 0; i < l.ntrash; i++) {
            bl_buf_printf(&b, "%s{\"path\":", l.n + i ? "," : "");
            bl_json_cstr(&b, l.trash[i]);
            bl_buf_printf(&b, ",\"leftover\":true,\"bytes\":%" PRIu64 "}", l.trash_bytes[i]);
        }
        bl_buf_putc(&b, ']');
        printf("%.*s\n", (int)b.len, (const char *)b.data);
    } else {
        uint64_t total = 0;
        printf("%-7s %7s %7s %-9s %s\n", "STATE", "SIZE", "FILES", "LAST USE", "PATH");
        for (size_t i = 0; i < l.n; i++) {
            const bl_cachedir *c = &l.v[i];
            char sz[32], age[32], st[PATH_MAX + 64];
            human_bytes(c->bytes, sz, sizeof sz);
            human_age(c->last_use, age, sizeof age);
            state_text(c, st, sizeof st);
            printf("%-7s %7s %7" PRIu64 " %-9s %s%s%s%s\n", c->held ? "in-use" : "free", sz,
                   c->files, age, c->path, c->held ? " (" : "", c->held ? st : "",
                   c->held ? ")" : "");
            total += c->bytes;
        }
        for (size_t i = 0; i < l.ntrash; i++) {
            char sz[32];
            human_bytes(l.trash_bytes[i], sz, sizeof sz);
            printf("%-7s %7s %7s %-9s %s (an interrupted gc's; the next gc deletes it)\n",
                   "leftover", sz, "-", "-", l.trash[i]);
            total += l.trash_bytes[i];
        }
        char sz[32];
        human_bytes(total, sz, sizeof sz);
        printf("%zu cache%s, %s on disk\n", l.n, l.n == 1 ? "" : "s", sz);
    }
    bl_buf_free(&b);
    int rc = l.failures ? 1 : 0;
    free_list(&l);
    return rc;
}

/* ---- gc ---------------------------------------------------------------------------- */

typedef struct gc_ctx {
    bool dry_run;
    int failures;
    unsigned removed;
} gc_ctx;

static void swept(bl_sweep_kind kind, const char *path, const char *error, void *arg)
{
    gc_ctx *g = arg;
    if (error) {
        fprintf(stderr, "bitlib cache gc: %s %s: cannot remove it: %s\n",
                bl_sweep_kind_name(kind), path, error);
        g->failures++;
        return;
    }
    printf("%s %s %s\n", g->dry_run ? "would remove" : "removed", bl_sweep_kind_name(kind), path);
    g->removed++;
}

static void sweep_dir(const char *dir, void *arg)
{
    gc_ctx *g = arg;
    bl_sweep_rundir(dir, g->dry_run, swept, g);
}

static int by_last_use(const void *a, const void *b)
{
    const bl_cachedir *x = a, *y = b;
    return x->last_use < y->last_use ? -1 : x->last_use > y->last_use;
}

/* Remove one free cache; false if it turned out to be in use. */
static bool remove_cache(gc_ctx *g, const bl_cachedir *c, const char *why)
{
    char sz[32], age[32];
    human_bytes(c->bytes, sz, sizeof sz);
    human_age(c->last_use, age, sizeof age);
    if (g->dry_run) {
        printf("would remove cache %s (%s, last used %s; %s)\n", c->path, sz, age, why);
        g->removed++;
        return true;
    }
    bl_err err;
    int rc = bl_cachedir_remove(c->path, &err);
    if (rc < 0) {
        fprintf(stderr, "bitlib cache gc: %s\n", err.msg);
        g->failures++;
        return false;
    }
    if (rc == 0) {
        printf("kept cache %s: a daemon took it meanwhile\n", c->path);
        return false;
    }
    printf("removed cache %s (%s, last used %s; %s)\n", c->path, sz, age, why);
    g->removed++;
    return true;
}

static int cache_gc(int argc, char **argv, bool dry_run, bool have_max, uint64_t max_size,
                    bool have_age, double age_s)
{
    gc_ctx g = {.dry_run = dry_run};
    /* debris first: a detached stale mount lets its registry and mount point go */
    bl_sweep_mounts(dry_run, swept, &g);
    bl_ctl_runtime_dirs(sweep_dir, &g);
    /* (bl_ctl_runtime_dirs includes $BITLIB_RUNTIME_DIR when set) */

    cache_list l;
    if (collect_all(&l, argc, argv, "bitlib cache gc") < 0)
        return 1;
    g.failures += l.failures;
    for (size_t i = 0; i < l.ntrash; i++) {
        bl_err err;
        if (dry_run) {
            printf("would remove leftover %s\n", l.trash[i]);
        } else if (bl_cachedir_rmtree(l.trash[i], &err) == 0) {
            printf("removed leftover %s (an interrupted gc's)\n", l.trash[i]);
            g.removed++;
        } else {
            fprintf(stderr, "bitlib cache gc: %s\n", err.msg);
            g.failures++;
        }
    }
    qsort(l.v, l.n, sizeof *l.v, by_last_use);
    uint64_t total = 0;
    for (size_t i = 0; i < l.n; i++)
        total += l.v[i].bytes;
    time_t now = time(NULL);
    bool *gone = calloc(l.n ? l.n : 1, sizeof *gone);
    if (!gone) {
        free_list(&l);
        fprintf(stderr, "bitlib cache gc: out of memory\n");
        return 1;
    }
    if (have_age) {
        char why[64];
        snprintf(why, sizeof why, "unused for more than %.0f s", age_s);
        for (size_t i = 0; i < l.n; i++)
            if (!l.v[i].held && (double)(now - l.v[i].last_use) >= age_s &&
                remove_cache(&g, &l.v[i], why)) {
                gone[i] = true;
                total -= l.v[i].bytes;
            }
    }
    if (have_max) {
        char why[96], sz[32];
        human_bytes(max_size, sz, sizeof sz);
        snprintf(why, sizeof why, "least recently used while caches exceed %s", sz);
        for (size_t i = 0; i < l.n && total > max_size; i++)
            if (!gone[i] && !l.v[i].held && remove_cache(&g, &l.v[i], why)) {
                gone[i] = true;
                total -= l.v[i].bytes;
            }
        if (total > max_size) {
            char t[32];
            human_bytes(total, t, sizeof t);
            printf("caches in use take %s, more than --max-size %s: those are never removed\n",
                   t, sz);
        }
    }
    char t[32];
    human_bytes(total, t, sizeof t);
    printf("%s: %u thing%s %sremoved, caches now take %s\n", dry_run ? "dry run" : "gc done",
           g.removed, g.removed == 1 ? "" : "s", dry_run ? "would be " : "", t);
    free(gone);
    free_list(&l);
    return g.failures ? 1 : 0;
}

/* "30m", "12h", "7d", "2w", or seconds */
static int parse_age(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul = 1;
    switch (*end) {
    case 0: case 's': break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    case 'w': mul = 7 * 86400; break;
    default: return -1;
    }
    if (*end && end[1])
        return -1;
    *out = v * mul;
    return 0;
}

int cmd_cache(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(cache_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    bool is_ls = !strcmp(sub, "ls") || !strcmp(sub, "list");
    bool is_gc = !strcmp(sub, "gc");
    if (!is_ls && !is_gc) {
        fprintf(stderr, "bitlib cache: '%s' is not a cache command (ls or gc); see "
                        "'bitlib cache --help'\n", sub);
        return 2;
    }
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"max-size", required_argument, NULL, 'S'},
        {"older-than", required_argument, NULL, 'A'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    bool json = false, dry_run = false, have_max = false, have_age = false;
    uint64_t max_size = 0;
    double age_s = 0;
    const char *cmd = is_ls ? "bitlib cache ls" : "bitlib cache gc";
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "nh", longopts, NULL)) != -1) {
        bl_err err;
        switch (c) {
        case 'j': json = true; break;
        case 'n': dry_run = true; break;
        case 'S':
            if (bl_parse_bytes(optarg, &max_size, &err) < 0) {
                fprintf(stderr, "%s: --max-size %s\n", cmd, err.msg);
                return 2;
            }
            have_max = true;
            break;
        case 'A':
            if (parse_age(optarg, &age_s) < 0) {
                fprintf(stderr, "%s: --older-than '%s': expected seconds or a number with s, "
                                "m, h, d or w (e.g. 12h, 7d)\n", cmd, optarg);
                return 2;
            }
            have_age = true;
            break;
        case 'h': fputs(cache_usage, stdout); return 0;
        default: return cli_bad_option(cmd, argv[optind]);
        }
    }
    if (is_ls && (have_max || have_age || dry_run)) {
        fprintf(stderr, "bitlib cache ls: --max-size, --older-than and --dry-run belong to "
                        "'bitlib cache gc'\n");
        return 2;
    }
    if (is_gc && json) {
        fprintf(stderr, "bitlib cache gc: --json belongs to 'bitlib cache ls'\n");
        return 2;
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (stat(args[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: %s is not a directory (a cache root or a cache)\n", cmd,
                    args[i]);
            return 2;
        }
    }
    if (is_ls)
        return cache_ls(nargs, args, json);
    return cache_gc(nargs, args, dry_run, have_max, max_size, have_age, age_s);
}
