/* bitlib create: a thin front on meta/create. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/sha1.h"
#include "meta/create.h"
#include "meta/metainfo.h"
#include "meta/sign.h"
#include "swarm/tracker_client.h"

static const char usage_text[] =
    "usage: bitlib create -o OUT.torrent [options] DIR...\n"
    "\n"
    "Build a description file (a standard BitTorrent v1 .torrent) for the files under DIR.\n"
    "With one DIR its contents become the set's root; with several, each DIR becomes a\n"
    "top-level directory named by its basename (then --name is required).\n"
    "Files start on piece boundaries (BEP 47 padding); modes, mtimes, directories and\n"
    "symlinks are recorded for the mount. FIFOs, sockets and devices are skipped with a\n"
    "warning; a name that is not valid UTF-8 is refused.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE        write the description here (required)\n"
    "  -p, --piece-size SIZE    power of two from 16K to 16M (suffix K or M allowed);\n"
    "                           default: the smallest that keeps the set within 16384 pieces\n"
    "  -t, --tracker URL        announce URL; repeat for fallback tiers, tried in order\n"
    "  -m, --mount PATH         absolute mount point recorded for the nodes\n"
    "      --prefetch-from EXE  add the shared libraries EXE loads from the set (its ELF\n"
    "                           DT_NEEDED closure, nothing is run); repeatable\n"
    "      --library-path DIR   a directory --prefetch-from searches like LD_LIBRARY_PATH\n"
    "                           (relative to the set root, or absolute under --mount);\n"
    "                           repeatable\n"
    "      --prefetch FILE      add the paths listed in FILE (one per line, relative to the\n"
    "                           set root; '#' starts a comment)\n"
    "      --env NAME=DIR       a directory of the set (relative to its root, '.' for the\n"
    "                           root) that programs run from it want on NAME, e.g.\n"
    "                           LD_LIBRARY_PATH=lib or PYTHONPATH=py; repeatable, in order;\n"
    "                           'bitlib run' sets these (outside the info-hash)\n"
    "      --private            set the BEP 27 private flag (no peer exchange or DHT)\n"
    "      --pad-names STYLE    how padding files are named: 'bep47' (default), '.pad/N' by\n"
    "                           length as BEP 47 suggests, so paddings of one length share a\n"
    "                           path; or 'unique', '.pad/N-K': use it when an older client\n"
    "                           must read the description, e.g. rtorrent 0.9.8 / libtorrent\n"
    "                           0.13.8 (Debian 12) refuse it otherwise (\"Duplicate filename\n"
    "                           found\"). Padding stays marked 'p' either way; the names are\n"
    "                           in the info-hash, so the two styles give different ones\n"
    "  -n, --name NAME          the set's name (default: the directory's name)\n"
    "  -c, --comment TEXT       a comment stored in the file\n"
    "      --sign KEY           sign the description with this private key (bitlib keygen;\n"
    "                           see 'bitlib sign --help')\n"
    "  -j, --threads N          hashing threads (default: one per CPU)\n"
    "  -q, --quiet              no summary line\n"
    "  -h, --help               this text\n";

/* Parse "256K", "1M", "16384". */
static int parse_size(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9') /* strtoull would accept space, '+' and '-' */
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (*end == 'i' && (end[-1] == 'K' || end[-1] == 'M' || end[-1] == 'k' || end[-1] == 'm'))
        end++;
    if (*end == 'B')
        end++;
    if (*end || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

typedef struct strv {
    const char **v;
    size_t n;
} strv;

static int strv_push(strv *a, const char *s)
{
    const char **nv = realloc(a->v, (a->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    nv[a->n++] = s;
    a->v = nv;
    return 0;
}

/* --env NAME=DIR, grouped by NAME (kept sorted, as bencode wants). */
typedef struct envv {
    bl_menv *v;
    size_t n;
} envv;

static int env_add(envv *a, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "bitlib create: --env '%s': want NAME=DIR\n", arg);
        return -1;
    }
    char *name = strndup(arg, (size_t)(eq - arg));
    const char *dir = eq + 1;
    while (dir[0] == '.' && dir[1] == '/')
        dir += 2;
    char *d = strdup(strcmp(dir, ".") ? dir : "");
    if (!name || !d)
        goto oom;
    size_t dl = strlen(d);
    while (dl && d[dl - 1] == '/')
        d[--dl] = 0;
    if (!bl_env_name_ok(name)) {
        fprintf(stderr, "bitlib create: --env '%s': '%s' is not a variable name\n", arg, name);
        free(name);
        free(d);
        return -1;
    }
    size_t i = 0;
    while (i < a->n && strcmp(a->v[i].name, name) < 0)
        i++;
    if (i == a->n || strcmp(a->v[i].name, name)) {
        bl_menv *nv = realloc(a->v, (a->n + 1) * sizeof *nv);
        if (!nv)
            goto oom;
        a->v = nv;
        memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof *a->v);
        a->v[i] = (bl_menv){.name = name};
        a->n++;
    } else {
        free(name);
    }
    bl_menv *e = &a->v[i];
    char **nd = realloc(e->dirs, (e->num_dirs + 1) * sizeof *nd);
    if (!nd) {
        free(d);
        fprintf(stderr, "bitlib create: out of memory\n");
        return -1;
    }
    e->dirs = nd;
    e->dirs[e->num_dirs++] = d;
    return 0;
oom:
    free(name);
    free(d);
    fprintf(stderr, "bitlib create: out of memory\n");
    return -1;
}

static void env_free(envv *a)
{
    for (size_t i = 0; i < a->n; i++) {
        for (size_t k = 0; k < a->v[i].num_dirs; k++)
            free(a->v[i].dirs[k]);
        free(a->v[i].dirs);
        free(a->v[i].name);
    }
    free(a->v);
}

/* Read a prefetch list file: one set-relative path per line. */
static int read_prefetch_file(const char *path, strv *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bitlib create: --prefetch %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    ssize_t len;
    char *line = NULL;
    size_t lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line;
        char *hash = strchr(s, '#');
        if (hash)
            *hash = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
            s[--l] = '\0';
        while (s[0] == '.' && s[1] == '/')
            s += 2;
        if (!*s)
            continue;
        char *copy = strdup(s);
        if (!copy || strv_push(out, copy) < 0) {
            free(copy);
            fclose(f);
            free(line);
            fprintf(stderr, "bitlib create: out of memory\n");
            return -1;
        }
    }
    free(line);
    fclose(f);
    return 0;
}


int cmd_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"piece-size", required_argument, NULL, 'p'},
        {"tracker", required_argument, NULL, 't'},
        {"mount", required_argument, NULL, 'm'},
        {"prefetch-from", required_argument, NULL, 'E'},
        {"library-path", required_argument, NULL, 'L'},
        {"prefetch", required_argument, NULL, 'P'},
        {"env", required_argument, NULL, 'e'},
        {"private", no_argument, NULL, 'X'},
        {"pad-names", required_argument, NULL, 'D'},
        {"name", required_argument, NULL, 'n'},
        {"comment", required_argument, NULL, 'c'},
        {"sign", required_argument, NULL, 'S'},
        {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    bl_log_set_tag("bitlib create");
    bl_log_set_plain(true); /* warnings read "bitlib create: warning: ..." */
    bl_create_opts o = {0};
    strv trackers = {0}, from = {0}, libpath = {0}, prefetch = {0};
    envv env = {0};
    const char *output = NULL;
    const char *sign_key = NULL;
    bool quiet = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:p:t:m:n:c:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'p':
            if (parse_size(optarg, &o.piece_length) < 0 || o.piece_length == 0) {
                fprintf(stderr, "bitlib create: --piece-size '%s': not a size (e.g. 256K, 1M)\n",
                        optarg);
                return 2;
            }
            break;
        case 't': {
            bl_err terr;
            if (bl_tc_check_url(optarg, &terr) < 0) {
                fprintf(stderr, "bitlib create: --tracker %s\n", terr.msg);
                return 2;
            }
            strv_push(&trackers, optarg);
            break;
        }
        case 'm': o.mount = optarg; break;
        case 'E': strv_push(&from, optarg); break;
        case 'L': strv_push(&libpath, optarg); break;
        case 'P':
            if (read_prefetch_file(optarg, &prefetch) < 0)
                return 1;
            break;
        case 'e':
            if (env_add(&env, optarg) < 0) {
                env_free(&env);
                return 2;
            }
            break;
        case 'X': o.is_private = true; break;
        case 'D':
            if (!strcmp(optarg, "bep47"))
                o.pad_names = BL_PAD_NAMES_BEP47;
            else if (!strcmp(optarg, "unique"))
                o.pad_names = BL_PAD_NAMES_UNIQUE;
            else {
                fprintf(stderr, "bitlib create: --pad-names '%s': 'bep47' or 'unique'\n", optarg);
                return 2;
            }
            break;
        case 'n': o.name = optarg; break;
        case 'c': o.comment = optarg; break;
        case 'S': sign_key = optarg; break;
        case 'j': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                fprintf(stderr, "bitlib create: --threads '%s': a number from 1 to 64\n", optarg);
                return 2;
            }
            o.threads = (int)v;
            break;
        }
        case 'q': quiet = true; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return cli_bad_option("bitlib create", argv[optind - 1]);
        }
    }
    if (!output) {
        fprintf(stderr, "bitlib create: -o OUT.torrent is required; see 'bitlib create --help'\n");
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "bitlib create: no directory given; see 'bitlib create --help'\n");
        return 2;
    }
    o.dirs = (const char *const *)argv + optind;
    o.num_dirs = (size_t)(argc - optind);
    o.trackers = trackers.v;
    o.num_trackers = trackers.n;
    o.prefetch_from = from.v;
    o.num_prefetch_from = from.n;
    o.libpath = libpath.v;
    o.num_libpath = libpath.n;
    o.prefetch = prefetch.v;
    o.num_prefetch = prefetch.n;
    o.env = env.v;
    o.num_env = env.n;

    bl_buf out;
    bl_buf_init(&out);
    bl_create_stats st;
    bl_err err = {.offset = 0};
    int rc = 1;
    bl_signkey *key = NULL;
    /* a key that cannot be used is reported before any hashing */
    if (sign_key && !(key = bl_signkey_load(sign_key, &err))) {
        fprintf(stderr, "bitlib create: --sign %s\n", err.msg);
        goto done;
    }
    if (bl_create(&o, &out, &st, &err) < 0) {
        fprintf(stderr, "bitlib create: %s\n", err.msg);
        goto done;
    }
    if (key) {
        bl_buf signed_out;
        bl_buf_init(&signed_out);
        if (bl_sign_desc(out.data, out.len, key, &signed_out, &err) < 0) {
            fprintf(stderr, "bitlib create: %s\n", err.msg);
            bl_buf_free(&signed_out);
            goto done;
        }
        bl_buf_free(&out);
        out = signed_out;
    }
    /* Read back what we wrote: a self-check, and the info-hash for the summary. */
    uint8_t *copy = malloc(out.len);
    bl_metainfo mi;
    if (!copy) {
        fprintf(stderr, "bitlib create: out of memory\n");
        goto done;
    }
    memcpy(copy, out.data, out.len);
    if (bl_metainfo_parse(&mi, copy, out.len, &err) < 0) {
        fprintf(stderr, "bitlib create: internal error, the result does not parse: %s\n", err.msg);
        goto done;
    }
    if (cli_write_file(output, out.data, out.len, &err) < 0) {
        fprintf(stderr, "bitlib create: %s\n", err.msg);
        bl_metainfo_free(&mi);
        goto done;
    }
    if (!quiet) {
        char hex[41];
        bl_hex(mi.info_hash, BL_SHA1_LEN, hex);
        double mib = (double)st.data_bytes / (1 << 20);
        fprintf(stderr, "bitlib create: wrote %s: %zu files, %zu directories, %zu symlinks, "
                        "%.1f MiB in %u pieces of %u KiB, %zu prefetch, info-hash %s "
                        "(hashed at %.0f MiB/s)\n",
                output, st.files, st.dirs, st.symlinks, mib, st.pieces, st.piece_length >> 10,
                mi.num_prefetch, hex, st.hash_seconds > 0 ? mib / st.hash_seconds : 0.0);
    }
    bl_metainfo_free(&mi);
    rc = 0;
done:
    bl_signkey_free(key);
    bl_buf_free(&out);
    free(trackers.v);
    free(from.v);
    free(libpath.v);
    for (size_t i = 0; i < prefetch.n; i++)
        free((char *)(uintptr_t)prefetch.v[i]);
    free(prefetch.v);
    env_free(&env);
    return rc;
}
