/* bitlib prefetch learn: first-open traces (bitlib mount/run --learn) into a
 * description's prefetch list; the info-hash does not change. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "fs/fsindex.h"
#include "meta/jobmeta.h"
#include "meta/sign.h"
#include "meta/trace.h"

#define MAX_TRACES 4096
#define MAX_TRACKERS 64

static const char prefetch_usage[] =
    "usage: bitlib prefetch learn DESC TRACE... -o OUT [--replace] [--sign KEY] [-q]\n"
    "\n"
    "Turn first-open traces into DESC's prefetch list, so that later jobs mounted in\n"
    "hybrid mode fetch at mount what earlier jobs opened.  A trace is what 'bitlib mount\n"
    "--learn TRACE' or 'bitlib run --learn TRACE' wrote (also 'bitlib status MOUNTPOINT\n"
    "--opened'): one set-relative path per line, in the order the job first opened them.\n"
    "Traces are merged: every path of any trace, ordered by its mean relative position in\n"
    "the traces that hold it; paths the set does not hold (as a file, symlinks followed)\n"
    "are skipped and counted.  The learned paths follow DESC's own list (--replace: instead\n"
    "of it).  Only the per-job section changes: the info-hash, and so the swarm and every\n"
    "cache, stay the same.  A signature covers the per-job section: a signed DESC gives an\n"
    "unsigned OUT unless --sign re-signs it.\n"
    "\n"
    "options:\n"
    "  -o, --output OUT  write the new description here (required; may be DESC)\n"
    "      --replace     the learned list replaces DESC's prefetch list\n"
    "      --sign KEY    sign OUT with this private key (bitlib keygen)\n"
    "  -q, --quiet       no summary line\n"
    "  -h, --help        this text\n";

static bool listed(const char *const *list, size_t n, const char *p)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], p))
            return true;
    return false;
}

static int learn(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"replace", no_argument, NULL, 'r'},
        {"sign", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib prefetch learn", *out = NULL, *keypath = NULL;
    bool replace = false, quiet = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'r': replace = true; break;
        case 'k': keypath = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(prefetch_usage, stdout); return 0;
        default: return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (argc - optind < 2 || !out) {
        fprintf(stderr, "%s: needs DESC, at least one TRACE and -o OUT; see 'bitlib prefetch "
                        "--help'\n", cmd);
        return 2;
    }
    size_t ntraces = (size_t)(argc - optind - 1);
    if (ntraces > MAX_TRACES) {
        fprintf(stderr, "%s: at most %d traces\n", cmd, MAX_TRACES);
        return 2;
    }
    const char *desc = argv[optind];
    bl_err err = {.offset = 0};
    bl_metainfo mi;
    if (bl_metainfo_load(&mi, desc, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    int rc = 1;
    bl_fsindex ix = {0};
    bl_trace *tr = calloc(ntraces, sizeof *tr);
    char ***lines = calloc(ntraces, sizeof *lines);
    const char **merged = NULL, **list = NULL;
    size_t nmerged = 0, nlist = 0, skipped = 0, learned = 0;
    bl_signkey *key = NULL;
    bl_buf b, signed_b;
    bl_buf_init(&b);
    bl_buf_init(&signed_b);
    if (!tr || !lines) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto out;
    }
    if (keypath && !(key = bl_signkey_load(keypath, &err))) {
        fprintf(stderr, "%s: --sign %s\n", cmd, err.msg);
        goto out;
    }
    if (bl_fsindex_build(&ix, &mi, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    for (size_t t = 0; t < ntraces; t++) {
        size_t n;
        if (bl_trace_read(argv[optind + 1 + (int)t], &lines[t], &n, &err) < 0) {
            fprintf(stderr, "%s: trace %s\n", cmd, err.msg);
            goto out;
        }
        tr[t] = (bl_trace){lines[t], n};
    }
    if (bl_trace_merge(tr, ntraces, &merged, &nmerged, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    list = malloc((mi.num_prefetch + nmerged + 1) * sizeof *list);
    if (!list) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto out;
    }
    if (!replace)
        for (size_t i = 0; i < mi.num_prefetch; i++)
            list[nlist++] = mi.prefetch[i];
    for (size_t i = 0; i < nmerged; i++) {
        size_t e = bl_fsindex_resolve(&ix, merged[i], true);
        if (e == BL_FS_NO_ENTRY || !S_ISREG(mi.entries[e].mode)) {
            skipped++;
            continue;
        }
        if (listed(list, nlist, merged[i]))
            continue;
        list[nlist++] = merged[i];
        learned++;
    }
    const char *tbuf[MAX_TRACKERS];
    bl_jobmeta j;
    bl_jobmeta_of(&mi, &j, tbuf, MAX_TRACKERS);
    j.prefetch = list;
    j.num_prefetch = nlist;
    if (bl_jobmeta_rewrite(&mi, &j, &b, &err) < 0 ||
        (key && bl_sign_desc(b.data, b.len, key, &signed_b, &err) < 0) ||
        cli_write_file(out, key ? signed_b.data : b.data, key ? signed_b.len : b.len,
                       &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        goto out;
    }
    bl_sigblock sb;
    uint8_t digest[BL_SIGN_DIGEST_LEN];
    bl_err serr;
    bool was_signed = bl_sign_read(mi.raw, mi.raw_len, &sb, digest, &serr) == 0 && sb.present;
    if (!quiet)
        printf("%s: %s: prefetch list of %zu files (%zu learned from %zu trace%s, %zu paths "
               "not in the set skipped); info-hash unchanged%s\n", cmd, out, nlist, learned,
               ntraces, ntraces == 1 ? "" : "s", skipped, key ? "; signed" : "");
    if (was_signed && !key)
        fprintf(stderr, "%s: %s was signed and %s is not (its prefetch list changed): sign it "
                        "with 'bitlib sign %s --key KEY', or nodes with trusted keys refuse "
                        "it\n", cmd, desc, out, out);
    rc = 0;
out:
    for (size_t t = 0; lines && t < ntraces; t++)
        bl_trace_free(lines[t], tr[t].n);
    free(lines);
    free(tr);
    free(merged);
    free(list);
    bl_buf_free(&b);
    bl_buf_free(&signed_b);
    bl_signkey_free(key);
    bl_fsindex_free(&ix);
    bl_metainfo_free(&mi);
    return rc;
}

int cmd_prefetch(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(prefetch_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "learn"))
        return learn(argc - 1, argv + 1);
    fprintf(stderr, "bitlib prefetch: unknown subcommand '%s'; the one there is: learn (see "
                    "'bitlib prefetch --help')\n", argv[1]);
    return 2;
}
