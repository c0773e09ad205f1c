/* bitlib offload push|pull|status: result offload through depots, a thin
 * front on offload/push and offload/pull. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/offload_submit.h"
#include "offload/submit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sha1.h"
#include "offload/depotproto.h"
#include "offload/directive.h"
#include "offload/forward.h"
#include "offload/manifest.h"
#include "offload/plan.h"
#include "offload/probe.h"
#include "offload/pull.h"
#include "offload/push.h"
#include "offload/rs.h"
#include "offload/units.h"

#define DEFAULT_TIMEOUT 10

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitlib offload push FILE... --manifest OUT --key-file FILE\n"
            "                           --depot HOST:PORT[:SIZE]... [--deadline WHEN]\n"
            "                           [--purge-deadline WHEN] [--rs K:M] [--chunk SIZE]\n"
            "                           [--replicas R] [--timeout SEC] [--json] [--quiet]\n\n"
            "Offload job results: cut the files (one stream) into stripes of K chunks,\n"
            "add M-K Reed-Solomon parity chunks per stripe (ISA-L) and store every chunk\n"
            "R times on distinct depots ('bitlib depot'), choosing the fan-out from each\n"
            "depot's room and measured rate against the deadlines, and re-planning when a\n"
            "depot refuses (full) or fails (what it held is sent again elsewhere).  When\n"
            "every copy is acknowledged the center may delete its copy; OUT then says\n"
            "which depots hold each chunk, and is all a user needs to pull.\n\n"
            "  --manifest OUT       where to write the manifest (atomically)\n"
            "  --key-file FILE      the offload key the depots hold (mode 0600)\n"
            "  --depot HOST:PORT[:SIZE]  a depot (repeatable); SIZE caps what it is given\n"
            "  --deadline WHEN      the user's delivery deadline (+600, 10m, 2h,\n"
            "                       @EPOCH, 2026-12-02T17:00Z)\n"
            "  --purge-deadline WHEN  when the center purges the files\n"
            "  --rs K:M             erasure code (default 4:5)\n"
            "  --chunk SIZE         chunk size (default 1M, at most 16M)\n"
            "  --replicas R         copies of every chunk, on distinct depots (default 1)\n"
            "  --timeout SEC        a depot silent this long is down (default %d)\n"
            "  --json               the summary as one JSON line on stdout (bytes, release\n"
            "                       time, deadlines met, chunks per depot)\n"
            "  -q, --quiet          print only the summary and errors\n\n"
            "usage: bitlib offload pull MANIFEST --out DIR [--key-file FILE] [--timeout SEC]\n"
            "                           [--json]\n\n"
            "Fetch any K chunks of every stripe from whichever depots have them, check each\n"
            "against the manifest (a damaged one is fetched from another depot), decode,\n"
            "check every file's SHA-256 and only then move the files into DIR.  With\n"
            "--key-file the manifest's signature is checked too (without it, the manifest\n"
            "is trusted as it is; the depots still prove they hold the offload's key).\n"
            "Interrupted (even by SIGKILL) or failed, it resumes when run again: the\n"
            "stripes already in DIR's temporary files (.NAME.bitlib-pull) that match the\n"
            "manifest are kept, only the rest is fetched.\n\n"
            "  --out DIR            where the files go (must exist)\n"
            "  --json               the report as one JSON line on stdout (bytes fetched,\n"
            "                       bytes resumed from disk, per depot)\n\n"
            "usage: bitlib offload forward MANIFEST --key-file FILE --from HOST:PORT\n"
            "                              --to HOST:PORT [--timeout SEC]\n\n"
            "Copy the offload's chunks from one depot to another, e.g. from a depot the\n"
            "center pushed to, to one near the user's site (the paper's Level-2 node),\n"
            "and add the second depot to MANIFEST (rewritten atomically, signed again):\n"
            "a pull then fetches from both.  The first depot does the copying and must\n"
            "reach the second at the address given; MANIFEST lists the chunks the second\n"
            "holds afterwards.  --timeout bounds each wait, the copy included.\n\n"
            "  --from HOST:PORT     the depot that holds the chunks\n"
            "  --to HOST:PORT       the depot to copy them to\n\n"
            "usage: bitlib offload status MANIFEST [--key-file FILE] [--timeout SEC] [--stripes]\n\n"
            "Ask every depot of the manifest what it holds of the offload, and say whether\n"
            "the offload can be recovered now (every stripe has K chunks on depots that are\n"
            "up).  Exit 0 if it can, 1 if not.\n\n"
            "  --stripes            also one line per stripe: chunks reachable\n\n"
            "usage: bitlib offload plan SCRIPT [--size SIZE] [--rs K:M] [--chunk SIZE]\n"
            "                           [--replicas R] [--purge-deadline WHEN]\n"
            "                           [--probe --key-file FILE [--timeout SEC]]\n\n"
            "Read the offload directives of a job script (#Stageout SOURCE DEST,\n"
            "#InterNode HOST:PORT:SIZE, #Landmark HOST:PORT[:SIZE], #Deadline WHEN,\n"
            "#PurgeDeadline WHEN, or the same after '#BITLIB ' among #PBS or #SBATCH\n"
            "lines) and print the plan: the depots, the fan-out, each depot's share and\n"
            "the projected release against the deadlines.  Without --probe rates are not\n"
            "measured: the planner assumes 1 MB/s for every depot.  A bad directive is\n"
            "reported with its line and column.  Exit 0 when the plan meets the\n"
            "deadlines, 1 when not.\n\n"
            "  --size SIZE          the data to offload (default: the sizes of the\n"
            "                       #Stageout sources, which must then exist here)\n"
            "  --probe              ask every depot for its free space and measure its rate\n"
            "                       from here with a 256 KiB probe, as push does before it\n"
            "                       plans (needs --key-file; a depot that is down is left\n"
            "                       out, with the reason)\n"
            "usage: bitlib offload submit SCRIPT --key-file FILE [--manifest PATH]\n"
            "                             [--deadline WHEN] [--purge-deadline WHEN] [--rs K:M]\n"
            "                             [--chunk SIZE] [--replicas R] [--timeout SEC]\n"
            "                             [--stageout-arg OPT]... [-- sbatch|qsub ARGS...]\n\n"
            "Submit a job script whose offload directives (as plan reads them) say what to\n"
            "offload and where: the script less those lines goes to the scheduler\n"
            "unchanged (ARGS are its options, put before the script), then a stage-out\n"
            "job that waits for it to end in any state (Slurm --dependency=afterany:ID,\n"
            "PBS -W depend=afterany:ID) and runs 'bitlib offload push' on the #Stageout\n"
            "sources (a directory: the regular files directly in it) to the #InterNode\n"
            "and #Landmark depots with the #Deadline.  Relative paths are taken from the\n"
            "directory submit runs in.  The scheduler is the one named after --, or the\n"
            "one the script's #SBATCH or #PBS lines are for.\n\n"
            "  --manifest PATH      where the stage-out writes the manifest; %%j is the job\n"
            "                       id (default bitlib-offload-%%j.manifest); its script\n"
            "                       and log go beside it (.stageout.sh, .log)\n"
            "  --stageout-arg OPT   an option of the scheduler for the stage-out job only,\n"
            "                       before its script (repeatable: --stageout-arg=-p\n"
            "                       --stageout-arg=io, --stageout-arg=--account=proj);\n"
            "                       ARGS after -- are the main job's\n"
            "  -h, --help           this text\n",
            DEFAULT_TIMEOUT);
}

enum { O_MANIFEST = 256, O_KEY, O_DEPOT, O_DEADLINE, O_PURGE, O_RS, O_CHUNK, O_REPLICAS,
       O_TIMEOUT, O_OUT, O_STRIPES, O_SIZE, O_JSON, O_PROBE, O_STAGEOUT_ARG, O_FROM, O_TO };

static const struct option longopts[] = {
    {"manifest", required_argument, NULL, O_MANIFEST}, {"key-file", required_argument, NULL, O_KEY},
    {"depot", required_argument, NULL, O_DEPOT},       {"deadline", required_argument, NULL, O_DEADLINE},
    {"purge-deadline", required_argument, NULL, O_PURGE}, {"rs", required_argument, NULL, O_RS},
    {"chunk", required_argument, NULL, O_CHUNK},       {"replicas", required_argument, NULL, O_REPLICAS},
    {"timeout", required_argument, NULL, O_TIMEOUT},   {"out", required_argument, NULL, O_OUT},
    {"stripes", no_argument, NULL, O_STRIPES},         {"quiet", no_argument, NULL, 'q'},
    {"size", required_argument, NULL, O_SIZE},         {"json", no_argument, NULL, O_JSON},
    {"probe", no_argument, NULL, O_PROBE},
    {"stageout-arg", required_argument, NULL, O_STAGEOUT_ARG},
    {"from", required_argument, NULL, O_FROM},          {"to", required_argument, NULL, O_TO},
    {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0}};

typedef struct opts {
    const char *sub, *manifest, *keyfile, *out, *from, *to;
    char **depots;
    uint64_t *caps;
    size_t ndepots;
    double deadline, purge;
    unsigned k, m, replicas, timeout;
    uint64_t chunk, size;
    bool stripes, has_size, json, probe;
    const char *stageout_args[BL_SUBMIT_MAX_STAGEOUT_ARGS];
    size_t nstageout;
} opts;

/* "HOST:PORT[:SIZE]": the depot and its cap, read as #Landmark reads it. */
static int parse_depot(const char *arg, char **name, uint64_t *cap, bl_err *err)
{
    bl_dir_node n;
    if (bl_dir_parse_node(arg, false, &n, err) < 0)
        return -1;
    *cap = n.capacity;
    if (!(*name = strdup(n.addr)))
        return bl_fail(err, "out of memory");
    return 0;
}

static int parse_uint(const char *opt, const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "bitlib offload: %s '%s': a whole number from %u to %u\n", opt, v, lo, hi);
        return -1;
    }
    *out = (unsigned)x;
    return 0;
}

static void free_opts(opts *o)
{
    for (size_t i = 0; i < o->ndepots; i++)
        free(o->depots[i]);
    free(o->depots);
    free(o->caps);
}

/* Options that belong to some subcommands only: any other says so in one line. */
static const struct {
    int opt;
    const char *name;
    const char *subs[2];
} sub_only[] = {
    {O_JSON, "json", {"push", "pull"}},       {O_PROBE, "probe", {"plan"}},
    {O_FROM, "from", {"forward"}},            {O_TO, "to", {"forward"}},
    {O_STAGEOUT_ARG, "stageout-arg", {"submit"}},
};

static bool option_allowed(int c, const char *sub, const char *cmd)
{
    for (size_t i = 0; i < sizeof sub_only / sizeof sub_only[0]; i++) {
        if (sub_only[i].opt != c)
            continue;
        const char *const *subs = sub_only[i].subs;
        if (!strcmp(sub, subs[0]) || (subs[1] && !strcmp(sub, subs[1])))
            return true;
        fprintf(stderr, "%s: --%s is an option of 'bitlib offload %s'%s%s%s only\n", cmd, sub_only[i].name,
                subs[0], subs[1] ? " and '" : "", subs[1] ? subs[1] : "", subs[1] ? "'" : "");
        return false;
    }
    return true;
}

/* Parse argv (argv[0] the subcommand); positional arguments stay at
 * argv[*first..argc).  Returns 0, 2 on a usage error (printed), or -1 for
 * --help (printed). */
static int parse(int argc, char **argv, opts *o, int *first)
{
    memset(o, 0, sizeof *o);
    o->sub = argv[0];
    o->k = 4;
    o->m = 5;
    o->replicas = 1;
    o->chunk = 1u << 20;
    o->timeout = DEFAULT_TIMEOUT;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "bitlib offload %s", o->sub);
    bl_err err;
    int c;
    time_t now = time(NULL);
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        if (!option_allowed(c, o->sub, cmd))
            return 2;
        switch (c) {
        case O_MANIFEST: o->manifest = optarg; break;
        case O_KEY: o->keyfile = optarg; break;
        case O_OUT: o->out = optarg; break;
        case O_STRIPES: o->stripes = true; break;
        case O_JSON: o->json = true; break;
        case O_PROBE: o->probe = true; break;
        case O_FROM:
        case O_TO:
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "%s: --%s '%s': a depot is HOST:PORT\n", cmd, c == O_FROM ? "from" : "to", optarg);
                return 2;
            }
            *(c == O_FROM ? &o->from : &o->to) = optarg;
            break;
        case O_STAGEOUT_ARG:
            if (o->nstageout == BL_SUBMIT_MAX_STAGEOUT_ARGS) {
                fprintf(stderr, "%s: at most %d --stageout-arg\n", cmd, BL_SUBMIT_MAX_STAGEOUT_ARGS);
                return 2;
            }
            if (!optarg[0]) {
                fprintf(stderr, "%s: --stageout-arg needs a non-empty option for the stage-out job\n", cmd);
                return 2;
            }
            o->stageout_args[o->nstageout++] = optarg;
            break;
        case O_SIZE:
            if (bl_parse_bytes(optarg, &o->size, &err) < 0 || o->size == 0) {
                fprintf(stderr, "%s: --size '%s': a size like 64M or 2G, not 0\n", cmd, optarg);
                return 2;
            }
            o->has_size = true;
            break;
        case 'q': bl_log_set_level(BL_LOG_WARN); break;
        case 'h': usage(stdout); return -1;
        case O_DEPOT: {
            char **nd = realloc(o->depots, (o->ndepots + 1) * sizeof *nd);
            uint64_t *nc = nd ? realloc(o->caps, (o->ndepots + 1) * sizeof *nc) : NULL;
            if (nd)
                o->depots = nd;
            if (nc)
                o->caps = nc;
            if (!nd || !nc) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                return 2;
            }
            if (o->ndepots == BL_PLAN_MAX_DEPOTS) {
                fprintf(stderr, "%s: at most %d --depot options\n", cmd, BL_PLAN_MAX_DEPOTS);
                return 2;
            }
            if (parse_depot(optarg, &o->depots[o->ndepots], &o->caps[o->ndepots], &err) < 0) {
                fprintf(stderr, "%s: --depot '%s': %s\n", cmd, optarg, err.msg);
                return 2;
            }
            o->ndepots++;
            break;
        }
        case O_DEADLINE:
        case O_PURGE:
            if (bl_parse_when(optarg, now, c == O_DEADLINE ? &o->deadline : &o->purge, &err) < 0) {
                fprintf(stderr, "%s: %s: %s\n", cmd, c == O_DEADLINE ? "--deadline" : "--purge-deadline",
                        err.msg);
                return 2;
            }
            break;
        case O_RS:
            if (bl_rs_parse(optarg, &o->k, &o->m, &err) < 0 || o->k > BL_PLAN_MAX_K) {
                fprintf(stderr, "%s: --rs: %s\n", cmd, err.msg[0] && o->k <= BL_PLAN_MAX_K ? err.msg : "K is at most 32");
                return 2;
            }
            break;
        case O_CHUNK:
            if (bl_parse_bytes(optarg, &o->chunk, &err) < 0 || o->chunk == 0 || o->chunk > BL_DP_MAX_CHUNK) {
                fprintf(stderr, "%s: --chunk '%s': a size from 1 byte to 16M\n", cmd, optarg);
                return 2;
            }
            break;
        case O_REPLICAS:
            if (parse_uint("--replicas", optarg, 1, BL_PLAN_MAX_REPLICAS, &o->replicas) < 0)
                return 2;
            break;
        case O_TIMEOUT:
            if (parse_uint("--timeout", optarg, 1, 3600, &o->timeout) < 0)
                return 2;
            break;
        default: return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    *first = optind;
    return 0;
}

static const char *deadline_text(double deadline, double release, char *buf, size_t n)
{
    if (!deadline)
        snprintf(buf, n, "none");
    else if (release <= deadline)
        snprintf(buf, n, "met, %.1f s to spare", deadline - release);
    else
        snprintf(buf, n, "MISSED by %.1f s", release - deadline);
    return buf;
}

/* push --json: one line, also on failure (then with "error" and no depots).
 * Chunks per depot come from the manifest just written. */
static void push_json(const opts *o, const bl_okey *key, int nfiles, const bl_push_result *res,
                      const char *error)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_printf(&b, "{\"event\":\"%s\",\"files\":%d", error ? "failed" : "pushed", nfiles);
    if (!error)
        bl_buf_printf(&b, ",\"bytes\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"seconds\":%.3f,\"release\":%.3f"
                      ",\"depots_used\":%zu,\"depots_down\":%zu,\"replans\":%u,\"survives_one\":%s"
                      ",\"purge_met\":%s,\"deadline_met\":%s",
                      res->bytes, res->sent, res->seconds, res->release, res->depots_used, res->depots_down,
                      res->replans, res->survives_one ? "true" : "false", res->purge_met ? "true" : "false",
                      res->deadline_met ? "true" : "false");
    bl_buf_printf(&b, ",\"rs\":\"%u:%u\",\"replicas\":%u", o->k, o->m, o->replicas);
    bl_buf_puts(&b, ",\"purge_deadline\":");
    if (o->purge)
        bl_buf_printf(&b, "%.0f", o->purge);
    else
        bl_buf_puts(&b, "null");
    bl_buf_puts(&b, ",\"deadline\":");
    if (o->deadline)
        bl_buf_printf(&b, "%.0f", o->deadline);
    else
        bl_buf_puts(&b, "null");
    bl_buf_puts(&b, ",\"manifest\":");
    bl_json_cstr(&b, o->manifest);
    bl_buf_puts(&b, ",\"depots\":[");
    bl_manifest mf = {0};
    bl_err err;
    if (!error && bl_mf_load(o->manifest, key, &mf, &err) == 0) {
        for (size_t d = 0; d < mf.ndepots; d++) {
            uint64_t n = 0;
            for (uint64_t c = 0; c < mf.nstripes * mf.m; c++)
                for (unsigned a = 0; a < mf.chunks[c].nat; a++)
                    n += mf.chunks[c].at[a] == d;
            bl_buf_puts(&b, d ? ",{\"addr\":" : "{\"addr\":");
            bl_json_cstr(&b, mf.depots[d]);
            bl_buf_printf(&b, ",\"chunks\":%" PRIu64 "}", n);
        }
        bl_mf_free(&mf);
    }
    bl_buf_puts(&b, "],\"error\":");
    bl_json_cstr(&b, error);
    bl_buf_puts(&b, "}\n");
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    bl_buf_free(&b);
}

static int do_push(int argc, char **argv)
{
    opts o;
    int first, rc = parse(argc, argv, &o, &first);
    if (rc) {
        free_opts(&o);
        return rc < 0 ? 0 : rc;
    }
    rc = 2;
    bl_okey key;
    bl_err err;
    int nfiles = argc - first;
    if (nfiles < 1 || !o.manifest || !o.keyfile || o.ndepots == 0) {
        fprintf(stderr, "bitlib offload push: needs FILE..., --manifest, --key-file and at least one --depot; see 'bitlib offload --help'\n");
        goto out;
    }
    if (bl_okey_load(&key, o.keyfile, &err) < 0) {
        fprintf(stderr, "bitlib offload push: %s\n", err.msg);
        goto out;
    }
    bl_push_opts po = {.files = (const char *const *)argv + first, .nfiles = (size_t)nfiles,
                       .depots = (const char *const *)o.depots, .capacity = o.caps,
                       .ndepots = o.ndepots, .k = o.k, .m = o.m, .replicas = o.replicas,
                       .chunk = o.chunk, .deadline = o.deadline, .purge = o.purge, .key = &key,
                       .manifest = o.manifest, .timeout_ms = o.timeout * 1000};
    bl_push_result res;
    signal(SIGPIPE, SIG_IGN);
    if (bl_push_run(&po, &res, &err) < 0) {
        if (o.json)
            push_json(&o, &key, nfiles, &res, err.msg);
        fprintf(stderr, "bitlib offload push: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    rc = (res.purge_met && res.deadline_met) ? 0 : 1;
    if (o.json) {
        push_json(&o, &key, nfiles, &res, NULL);
        goto out;
    }
    char a[64], b[64];
    printf("offload: %" PRIu64 " bytes of %d file%s in %.2f s (%.1f MB/s), %" PRIu64
           " bytes stored on %zu of %zu depots (%zu down), RS %u:%u x %u, %s; "
           "purge deadline %s; delivery deadline %s; manifest %s\n",
           res.bytes, nfiles, nfiles == 1 ? "" : "s", res.seconds,
           res.seconds > 0 ? res.bytes / res.seconds / 1e6 : 0.0, res.sent, res.depots_used,
           o.ndepots, res.depots_down, o.k, o.m, o.replicas,
           res.survives_one ? "survives the loss of any one depot"
                            : "NOT safe against the loss of any one depot (too few depots or too little room)",
           deadline_text(o.purge, res.release, a, sizeof a),
           deadline_text(o.deadline, res.release, b, sizeof b), o.manifest);
out:
    memset(&key, 0, sizeof key);
    free_opts(&o);
    return rc;
}

/* Load MANIFEST (checking its signature when a key file is given). */
static int load_manifest(const opts *o, const char *path, bl_manifest *mf)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "bitlib offload %s", o->sub);
    bl_okey key;
    bl_err err;
    if (o->keyfile && bl_okey_load(&key, o->keyfile, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return -1;
    }
    int rc = bl_mf_load(path, o->keyfile ? &key : NULL, mf, &err);
    memset(&key, 0, sizeof key);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
    return rc;
}

static void report_depots(const bl_manifest *mf, const bl_pull_report *rep, bool pull)
{
    for (size_t d = 0; d < mf->ndepots; d++) {
        const bl_pull_depot *pd = &rep->depot[d];
        if (!pd->up)
            printf("depot %s: down: %s\n", mf->depots[d], pd->why[0] ? pd->why : "not reached");
        else if (pull)
            if (pd->bad)
                printf("depot %s: up, %" PRIu64 " chunks fetched, %" PRIu64 " failed their checksum\n",
                       mf->depots[d], pd->fetched, pd->bad);
            else
                printf("depot %s: up, %" PRIu64 " chunks fetched\n", mf->depots[d], pd->fetched);
        else
            printf("depot %s: up, holds %" PRIu64 " chunks of this offload (the manifest lists %" PRIu64
                   "), %" PRIu64 " bytes free\n",
                   mf->depots[d], pd->held, pd->listed, pd->free_bytes);
    }
}

/* pull --json: one line, also on failure (then with "error") */
static void pull_json(const bl_manifest *mf, const bl_pull_report *rep, const char *error)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_printf(&b, "{\"event\":\"%s\",\"files\":%zu,\"bytes\":%" PRIu64 ",\"stripes\":%" PRIu64
                  ",\"bytes_fetched\":%" PRIu64 ",\"bytes_resumed\":%" PRIu64 ",\"stripes_resumed\":%" PRIu64
                  ",\"bytes_written\":%" PRIu64 ",\"already_there\":%s,\"seconds\":%.3f,\"error\":",
                  error ? "failed" : "pulled", mf->nfiles, mf->total, mf->nstripes, rep->bytes_fetched,
                  rep->bytes_resumed, rep->stripes_resumed, rep->bytes, rep->already_there ? "true" : "false",
                  rep->seconds);
    bl_json_cstr(&b, error);
    bl_buf_puts(&b, ",\"depots\":[");
    for (size_t d = 0; rep->depot && d < mf->ndepots; d++) {
        const bl_pull_depot *pd = &rep->depot[d];
        bl_buf_puts(&b, d ? ",{\"addr\":" : "{\"addr\":");
        bl_json_cstr(&b, mf->depots[d]);
        bl_buf_printf(&b, ",\"up\":%s,\"chunks_fetched\":%" PRIu64 ",\"chunks_bad\":%" PRIu64 ",\"why\":",
                      pd->up ? "true" : "false", pd->fetched, pd->bad);
        bl_json_cstr(&b, pd->up ? NULL : pd->why);
        bl_buf_putc(&b, '}');
    }
    bl_buf_puts(&b, "]}\n");
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    bl_buf_free(&b);
}

static int do_pull(int argc, char **argv)
{
    opts o;
    int first, rc = parse(argc, argv, &o, &first);
    if (rc) {
        free_opts(&o);
        return rc < 0 ? 0 : rc;
    }
    rc = 2;
    bl_manifest mf = {0};
    if (argc - first == 2 && !o.out)
        o.out = argv[first + 1];
    else if (argc - first != 1 || !o.out) {
        fprintf(stderr, "bitlib offload pull: needs MANIFEST and --out DIR; see 'bitlib offload --help'\n");
        goto out;
    }
    if (load_manifest(&o, argv[first], &mf) < 0) {
        rc = 1;
        goto out;
    }
    bl_pull_report rep;
    bl_err err;
    signal(SIGPIPE, SIG_IGN);
    rc = bl_pull_run(&mf, o.out, o.timeout * 1000, &rep, &err);
    if (o.json)
        pull_json(&mf, &rep, rc < 0 ? err.msg : NULL);
    if (rc < 0) {
        fprintf(stderr, "bitlib offload pull: %s\n", err.msg);
        rc = 1;
    } else if (o.json) {
        rc = 0;
    } else if (rep.already_there) {
        printf("nothing to pull: %zu file%s, %" PRIu64 " bytes, in %s already, every one matching its SHA-256\n",
               mf.nfiles, mf.nfiles == 1 ? "" : "s", mf.total, o.out);
        rc = 0;
    } else {
        size_t up = 0;
        for (size_t d = 0; d < mf.ndepots; d++)
            up += rep.depot[d].up;
        report_depots(&mf, &rep, true);
        printf("pulled %zu file%s, %" PRIu64 " bytes in %.2f s (%.1f MB/s) from %zu of %zu depots into %s; every file matches its SHA-256",
               mf.nfiles, mf.nfiles == 1 ? "" : "s", mf.total, rep.seconds,
               rep.seconds > 0 ? mf.total / rep.seconds / 1e6 : 0.0, up, mf.ndepots, o.out);
        if (rep.stripes_resumed)
            printf(" (resumed: %" PRIu64 " bytes were on disk already, %" PRIu64 " bytes fetched)", rep.bytes_resumed,
                   rep.bytes_fetched);
        printf("\n");
        rc = 0;
    }
    bl_pull_report_free(&rep);
out:
    bl_mf_free(&mf);
    free_opts(&o);
    return rc;
}

static int do_status(int argc, char **argv)
{
    opts o;
    int first, rc = parse(argc, argv, &o, &first);
    if (rc) {
        free_opts(&o);
        return rc < 0 ? 0 : rc;
    }
    rc = 2;
    bl_manifest mf = {0};
    if (argc - first != 1) {
        fprintf(stderr, "bitlib offload status: needs one MANIFEST; see 'bitlib offload --help'\n");
        goto out;
    }
    if (load_manifest(&o, argv[first], &mf) < 0) {
        rc = 1;
        goto out;
    }
    bl_pull_report rep;
    bl_err err;
    signal(SIGPIPE, SIG_IGN);
    if (bl_pull_status(&mf, o.timeout * 1000, &rep, &err) < 0) {
        fprintf(stderr, "bitlib offload status: %s\n", err.msg);
        bl_pull_report_free(&rep);
        rc = 1;
        goto out;
    }
    char id[2 * BL_OFFLOAD_ID_LEN + 1];
    bl_hex(mf.id, sizeof mf.id, id);
    printf("offload %s: %zu file%s, %" PRIu64 " bytes, %" PRIu64 " stripes of RS %u:%u x %u, chunk %" PRIu64 "\n",
           id, mf.nfiles, mf.nfiles == 1 ? "" : "s", mf.total, mf.nstripes, mf.k, mf.m, mf.replicas, mf.chunk);
    report_depots(&mf, &rep, false);
    unsigned fewest = mf.m;
    for (uint64_t s = 0; s < mf.nstripes; s++) {
        if (rep.reachable[s] < fewest)
            fewest = rep.reachable[s];
        if (o.stripes)
            printf("stripe %" PRIu64 ": %u of %u chunks reachable%s\n", s, rep.reachable[s], mf.m,
                   rep.reachable[s] < mf.k ? " (too few)" : "");
    }
    if (rep.short_stripes == 0) {
        printf("recoverable: yes, every stripe has at least %u of its %u chunks on depots that are up (fewest: %u)\n",
               mf.k, mf.m, fewest);
        rc = 0;
    } else {
        printf("recoverable: NO, %" PRIu64 " of %" PRIu64 " stripes have fewer than %u chunks on depots that are up\n",
               rep.short_stripes, mf.nstripes, mf.k);
        rc = 1;
    }
    bl_pull_report_free(&rep);
out:
    bl_mf_free(&mf);
    free_opts(&o);
    return rc;
}

/* ---- forward ---- */

/* Add `to` as a holder of idx to the manifest at path as it is on disk now
 * (read again under a lock on its directory, written back signed): forwards
 * to several depots at once each add their own, none overwrites another's. */
static int add_holder_on_disk(const char *path, const bl_okey *key, const char *to,
                              const uint32_t *idx, uint32_t n, uint64_t *added, bl_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bl_fail(err, "%s: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX) < 0) {
        close(fd);
        return bl_fail(err, "%s: lock: %s", dir, strerror(errno));
    }
    bl_manifest mf = {0};
    int rc = -1;
    if (bl_mf_load(path, key, &mf, err) == 0 && bl_mf_add_holder(&mf, to, idx, n, added, err) == 0 &&
        bl_mf_save(path, &mf, key, err) == 0)
        rc = 0;
    bl_mf_free(&mf);
    close(fd); /* and the lock with it */
    return rc;
}

static int do_forward(int argc, char **argv)
{
    opts o;
    int first, rc = parse(argc, argv, &o, &first);
    if (rc) {
        free_opts(&o);
        return rc < 0 ? 0 : rc;
    }
    rc = 2;
    bl_manifest mf = {0};
    bl_okey key;
    memset(&key, 0, sizeof key);
    bl_err err;
    if (argc - first != 1 || !o.keyfile || !o.from || !o.to) {
        fprintf(stderr, "bitlib offload forward: needs MANIFEST, --key-file, --from and --to; see 'bitlib offload --help'\n");
        goto out;
    }
    if (o.ndepots) {
        fprintf(stderr, "bitlib offload forward: the depots are --from and --to, not --depot\n");
        goto out;
    }
    rc = 1;
    if (bl_okey_load(&key, o.keyfile, &err) < 0 || bl_mf_load(argv[first], &key, &mf, &err) < 0) {
        fprintf(stderr, "bitlib offload forward: %s\n", err.msg);
        goto out;
    }
    bl_forward_report rep;
    uint32_t *held = NULL, nheld = 0;
    uint64_t added = 0;
    signal(SIGPIPE, SIG_IGN);
    if (bl_forward_run(&mf, &key, o.from, o.to, o.timeout * 1000, &rep, &held, &nheld, &err) < 0 ||
        add_holder_on_disk(argv[first], &key, o.to, held, nheld, &added, &err) < 0) {
        fprintf(stderr, "bitlib offload forward: %s\n", err.msg);
        free(held);
        goto out;
    }
    free(held);
    printf("forwarded %" PRIu32 " chunks from %s to %s in %.2f s; %s holds %" PRIu64
           " chunks of this offload; %s now lists it for %" PRIu64 " more\n",
           rep.forwarded, o.from, o.to, rep.seconds, o.to, rep.held_at_to, argv[first], added);
    rc = 0;
out:
    memset(&key, 0, sizeof key);
    bl_mf_free(&mf);
    free_opts(&o);
    return rc;
}

/* ---- plan ---- */

static uint64_t tree_bytes;
static int add_size(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode))
        tree_bytes += (uint64_t)st->st_size;
    return 0;
}

char *offload_read_script(const char *cmd, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(BL_DIR_MAX_SCRIPT + 2);
    size_t n = buf ? fread(buf, 1, BL_DIR_MAX_SCRIPT + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "%s: %s: cannot read\n", cmd, path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static const char *utc(double t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* plan --probe: every node's free space and rate, measured as push measures
 * them; a node that is down is marked failed, so the plan leaves it out. */
static int probe_nodes(const opts *o, const bl_directives *d, bl_plan_node *nodes, bl_probe_result *pr)
{
    bl_okey key;
    bl_err err;
    if (bl_okey_load(&key, o->keyfile, &err) < 0) {
        fprintf(stderr, "bitlib offload plan: %s\n", err.msg);
        return -1;
    }
    const char *names[BL_DIR_MAX_NODES];
    for (size_t i = 0; i < d->nnodes; i++)
        names[i] = d->node[i].addr;
    int rc = bl_probe_depots(names, d->nnodes, &key, o->timeout * 1000, pr, &err);
    memset(&key, 0, sizeof key);
    if (rc < 0) {
        fprintf(stderr, "bitlib offload plan: probing the depots: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < d->nnodes; i++) {
        nodes[i].failed = !pr[i].up;
        nodes[i].rate = pr[i].rate;
        if (pr[i].up && (!nodes[i].capacity || pr[i].free_bytes < nodes[i].capacity))
            nodes[i].capacity = pr[i].free_bytes ? pr[i].free_bytes : 1;
    }
    return 0;
}

static int do_plan(int argc, char **argv)
{
    opts o;
    int first, rc = parse(argc, argv, &o, &first);
    if (rc) {
        free_opts(&o);
        return rc < 0 ? 0 : rc;
    }
    rc = 2;
    bl_probe_result pr[BL_DIR_MAX_NODES];
    bl_directives d = {0};
    size_t len = 0;
    char *buf = NULL;
    if (o.probe && !o.keyfile) {
        fprintf(stderr, "bitlib offload plan: --probe needs --key-file (the depots answer only a holder of the offload key)\n");
        goto out;
    }
    if (argc - first != 1) {
        fprintf(stderr, "bitlib offload plan: needs one SCRIPT; see 'bitlib offload --help'\n");
        goto out;
    }
    const char *path = argv[first];
    if (!(buf = offload_read_script("bitlib offload plan", path, &len))) {
        rc = 1;
        goto out;
    }
    bl_err err;
    double now = (double)time(NULL);
    if (bl_dir_parse(buf, len, (time_t)now, &d, &err) < 0) {
        fprintf(stderr, "bitlib offload plan: %s: %s\n", path, err.msg);
        goto out;
    }
    if (d.nnodes == 0) {
        fprintf(stderr, "bitlib offload plan: %s: no #InterNode or #Landmark directive: nowhere to offload to\n", path);
        goto out;
    }
    uint64_t size = o.size;
    if (!o.has_size) {
        if (d.nstageout == 0) {
            fprintf(stderr, "bitlib offload plan: %s: no #Stageout directive and no --size: the size of the data is unknown\n", path);
            goto out;
        }
        for (size_t i = 0; i < d.nstageout; i++) {
            struct stat st;
            if (stat(d.stageout[i].source, &st) < 0) {
                fprintf(stderr, "bitlib offload plan: %s: line %u: #Stageout source %s: %s (give --size before the job has run)\n",
                        path, d.stageout[i].line, d.stageout[i].source, strerror(errno));
                goto out;
            }
            tree_bytes = 0;
            if (S_ISDIR(st.st_mode))
                nftw(d.stageout[i].source, add_size, 16, FTW_PHYS);
            else
                tree_bytes = (uint64_t)st.st_size;
            size += tree_bytes;
        }
        if (size == 0) {
            fprintf(stderr, "bitlib offload plan: %s: the #Stageout sources are empty: nothing to offload\n", path);
            rc = 1;
            goto out;
        }
    }
    double purge = o.purge ? o.purge : d.purge;
    bl_plan_node nodes[BL_DIR_MAX_NODES];
    for (size_t i = 0; i < d.nnodes; i++)
        nodes[i] = (bl_plan_node){.name = d.node[i].addr, .rate = 0, .capacity = d.node[i].capacity,
                                  .landmark = d.node[i].landmark};
    if (o.probe && probe_nodes(&o, &d, nodes, pr) < 0) {
        rc = 1;
        goto out;
    }
    bl_plan_input in = {.size = size, .k = o.k, .m = o.m, .replicas = o.replicas, .chunk = o.chunk,
                        .depots = nodes, .n_depots = d.nnodes, .now = now,
                        .purge_deadline = purge, .delivery_deadline = d.deadline};
    bl_plan p;
    if (bl_plan_make(&in, &p, &err) < 0) {
        fprintf(stderr, "bitlib offload plan: %s: %s\n", path, err.msg);
        rc = 1;
        goto out;
    }
    char t1[32];
    unsigned kept = 0;
    for (size_t i = 0; i < d.rest_len; i++)
        kept += d.rest[i] == '\n';
    printf("script %s: %s, %u offload directive%s (the other %u lines are the job's)\n", path,
           d.pbs && d.slurm ? "PBS and Slurm" : d.pbs ? "PBS" : d.slurm ? "Slurm" : "no scheduler directives",
           d.directives, d.directives == 1 ? "" : "s", kept);
    for (size_t i = 0; i < d.nstageout; i++)
        printf("stage-out: %s -> %s (line %u)\n", d.stageout[i].source, d.stageout[i].dest, d.stageout[i].line);
    if (d.deadline)
        printf("delivery deadline: %s (in %.0f s)\n", utc(d.deadline, t1, sizeof t1), d.deadline - now);
    if (purge)
        printf("purge deadline: %s (in %.0f s)\n", utc(purge, t1, sizeof t1), purge - now);
    printf("data: %" PRIu64 " bytes in %" PRIu64 " stripes of RS %u:%u x %u, chunk %" PRIu64 ": %" PRIu64 " chunk copies\n",
           size, p.stripes, o.k, o.m, o.replicas, o.chunk, p.chunks_total);
    for (size_t i = 0; i < d.nnodes; i++) {
        uint64_t share = 0;
        double fin = 0;
        for (size_t j = 0; j < p.n_shares; j++)
            if (p.share[j].depot == i) {
                share = p.share[j].chunks;
                fin = p.share[j].finish;
            }
        char cap[160] = "no capacity given";
        if (d.node[i].capacity)
            snprintf(cap, sizeof cap, "%" PRIu64 " bytes offered", d.node[i].capacity);
        if (o.probe && !pr[i].up) {
            printf("%s %s (line %u): down: %s; not used\n", d.node[i].landmark ? "landmark" : "depot",
                   d.node[i].addr, d.node[i].line, pr[i].why);
            continue;
        }
        if (o.probe)
            snprintf(cap + strlen(cap), sizeof cap - strlen(cap), ", %" PRIu64 " bytes free, probe %.1f MB/s",
                     pr[i].free_bytes, pr[i].rate / 1e6);
        if (share)
            printf("%s %s (line %u): %s; %" PRIu64 " chunk copies, done in %.0f s\n",
                   d.node[i].landmark ? "landmark" : "depot", d.node[i].addr, d.node[i].line, cap, share, fin - now);
        else
            printf("%s %s (line %u): %s; not used\n", d.node[i].landmark ? "landmark" : "depot",
                   d.node[i].addr, d.node[i].line, cap);
    }
    printf("plan: %s, fan-out %zu, at most %u copies of a stripe per depot%s: %s\n",
           bl_plan_mode_name(p.mode), p.n_shares, p.per_depot,
           p.estimated ? " (rates not measured: 1 MB/s assumed)" : "", p.why);
    if (p.mode != BL_PLAN_NONE) {
        char a[64], b[64];
        printf("projected release: %s (in %.0f s); purge deadline %s; delivery deadline %s\n",
               utc(p.release, t1, sizeof t1), p.release - now, deadline_text(purge, p.release, a, sizeof a),
               deadline_text(d.deadline, p.release, b, sizeof b));
    }
    rc = p.mode != BL_PLAN_NONE && p.purge_met && p.delivery_met ? 0 : 1;
out:
    bl_dir_free(&d);
    free(buf);
    free_opts(&o);
    return rc;
}

/* ---- submit ---- */

static int do_submit(int argc, char **argv)
{
    /* what follows "--" is the scheduler's, not ours */
    int cut = argc;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            cut = i;
            break;
        }
    opts o;
    int first, rc = parse(cut, argv, &o, &first);
    if (rc) {
        free_opts(&o);
        return rc < 0 ? 0 : rc;
    }
    rc = 2;
    if (cut - first != 1 || !o.keyfile) {
        fprintf(stderr, "bitlib offload submit: needs one SCRIPT and --key-file; see 'bitlib offload --help'\n");
        goto out;
    }
    if (o.ndepots) {
        fprintf(stderr, "bitlib offload submit: the depots come from the script's #InterNode and #Landmark lines, not --depot\n");
        goto out;
    }
    if (cut < argc && cut + 1 == argc) {
        fprintf(stderr, "bitlib offload submit: nothing after --: name the scheduler's submit command (sbatch or qsub)\n");
        goto out;
    }
    offload_submit_args a = {.script = argv[first], .keyfile = o.keyfile, .manifest = o.manifest,
                             .sched_argv = cut < argc ? argv + cut + 1 : NULL,
                             .sched_argc = cut < argc ? (size_t)(argc - cut - 1) : 0,
                             .deadline = o.deadline, .purge = o.purge, .k = o.k, .m = o.m,
                             .replicas = o.replicas, .timeout = o.timeout, .chunk = o.chunk,
                             .stageout_args = o.stageout_args, .nstageout = o.nstageout};
    rc = offload_submit(&a);
out:
    free_opts(&o);
    return rc;
}

int cmd_offload(int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv) || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "push"))
        return do_push(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pull"))
        return do_pull(argc - 1, argv + 1);
    if (!strcmp(argv[1], "status"))
        return do_status(argc - 1, argv + 1);
    if (!strcmp(argv[1], "plan"))
        return do_plan(argc - 1, argv + 1);
    if (!strcmp(argv[1], "submit"))
        return do_submit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "forward"))
        return do_forward(argc - 1, argv + 1);
    fprintf(stderr, "bitlib offload: '%s' is not a subcommand (push, pull, status, plan, submit or forward); see 'bitlib offload --help'\n",
            argv[1]);
    return 2;
}
