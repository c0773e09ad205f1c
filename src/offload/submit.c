/* submit: the scheduler's command lines and the stage-out script (see
 * submit.h). */
#include "offload/submit.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bl_sched bl_sched_of_program(const char *prog)
{
    const char *b = strrchr(prog, '/');
    b = b ? b + 1 : prog;
    if (!strcmp(b, "sbatch"))
        return BL_SCHED_SLURM;
    if (!strcmp(b, "qsub"))
        return BL_SCHED_PBS;
    return BL_SCHED_NONE;
}

const char *bl_sched_name(bl_sched s)
{
    return s == BL_SCHED_SLURM ? "Slurm" : s == BL_SCHED_PBS ? "PBS" : "none";
}

const char *bl_sched_program(bl_sched s)
{
    return s == BL_SCHED_SLURM ? "sbatch" : s == BL_SCHED_PBS ? "qsub" : "";
}

bl_sched bl_sched_of_script(const bl_directives *d)
{
    if (d->slurm == d->pbs)
        return BL_SCHED_NONE;
    return d->slurm ? BL_SCHED_SLURM : BL_SCHED_PBS;
}

static int grow(char **out, size_t *len, size_t *cap, size_t more)
{
    if (*len + more + 1 <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 1024;
    while (nc < *len + more + 1)
        nc *= 2;
    char *p = realloc(*out, nc);
    if (!p)
        return -1;
    *out = p;
    *cap = nc;
    return 0;
}

static int put(char **out, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char **out, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(out, len, cap, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(*out + *len, *cap - *len, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
    return 0;
}

int bl_sh_quote(char **out, size_t *len, size_t *cap, const char *s)
{
    if (put(out, len, cap, "'") < 0)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p == '\'' ? put(out, len, cap, "'\\''") < 0 : put(out, len, cap, "%c", *p) < 0)
            return -1;
    return put(out, len, cap, "'");
}

/* A value that goes into the script: no newline (the script is line based
 * and a comment line would end there). */
static int check_value(const char *what, const char *v, bl_err *err)
{
    if (strchr(v, '\n') || strchr(v, '\r'))
        return bl_fail(err, "%s '%.60s' has a line break: it cannot go into the stage-out script", what, v);
    return 0;
}

char *bl_stageout_script(const bl_stageout_opts *o, bl_err *err)
{
    if (check_value("the bitlib path", o->bitlib, err) < 0 || check_value("the key file", o->keyfile, err) < 0 ||
        check_value("the manifest path", o->manifest, err) < 0 || check_value("the destination", o->dest, err) < 0 ||
        check_value("the job id", o->jobid, err) < 0)
        return NULL;
    for (size_t i = 0; i < o->nsources; i++)
        if (check_value("the #Stageout source", o->sources[i], err) < 0)
            return NULL;
    char *s = NULL;
    size_t len = 0, cap = 0;
    const bl_directives *d = o->dir;
    double purge = o->purge ? o->purge : d->purge;
    int bad = put(&s, &len, &cap,
                  "#!/bin/sh\n"
                  "# The stage-out of job %s, written by 'bitlib offload submit'; it runs when the\n"
                  "# job has ended (in any state) and offloads what the job left.  Run it again by\n"
                  "# hand (sh THIS) if it failed: push starts over and writes the manifest anew.\n"
                  "set --\n"
                  "for s in",
                  o->jobid);
    for (size_t i = 0; i < o->nsources; i++)
        bad |= put(&s, &len, &cap, " ") | bl_sh_quote(&s, &len, &cap, o->sources[i]);
    bad |= put(&s, &len, &cap,
               "; do\n"
               "    # a directory stands for the regular files directly in it\n"
               "    if [ -d \"$s\" ]; then set -- \"$@\" \"$s\"/*; else set -- \"$@\" \"$s\"; fi\n"
               "done\n");
    bad |= bl_sh_quote(&s, &len, &cap, o->bitlib);
    bad |= put(&s, &len, &cap, " offload push \"$@\" --manifest ");
    bad |= bl_sh_quote(&s, &len, &cap, o->manifest);
    bad |= put(&s, &len, &cap, " --key-file ");
    bad |= bl_sh_quote(&s, &len, &cap, o->keyfile);
    bad |= put(&s, &len, &cap, " \\\n   ");
    for (size_t i = 0; i < d->nnodes; i++) {
        char node[BL_DIR_MAX_HOST + 40];
        if (d->node[i].capacity)
            snprintf(node, sizeof node, "%s:%llu", d->node[i].addr, (unsigned long long)d->node[i].capacity);
        else
            snprintf(node, sizeof node, "%s", d->node[i].addr);
        bad |= put(&s, &len, &cap, " --depot ") | bl_sh_quote(&s, &len, &cap, node);
    }
    bad |= put(&s, &len, &cap, " \\\n    --rs %u:%u --chunk %llu --replicas %u --timeout %u", o->k, o->m, o->chunk,
               o->replicas, o->timeout);
    if (d->deadline)
        bad |= put(&s, &len, &cap, " --deadline @%.0f", d->deadline);
    if (purge)
        bad |= put(&s, &len, &cap, " --purge-deadline @%.0f", purge);
    bad |= put(&s, &len, &cap, " || exit $?\necho \"bitlib offload: job %s's results are on the depots; to fetch them: bitlib offload pull \"", o->jobid);
    bad |= bl_sh_quote(&s, &len, &cap, o->manifest);
    bad |= put(&s, &len, &cap, "\" --out \"");
    bad |= bl_sh_quote(&s, &len, &cap, o->dest);
    bad |= put(&s, &len, &cap, "\n");
    if (bad) {
        free(s);
        bl_fail(err, "out of memory");
        return NULL;
    }
    return s;
}

int bl_sched_jobid(bl_sched s, const char *out, char jobid[BL_SUBMIT_MAX_JOBID], bl_err *err)
{
    const char *p = out;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    size_t n = 0;
    while (p[n] && p[n] != '\n' && p[n] != '\r' && p[n] != ' ' && p[n] != '\t' && !(s == BL_SCHED_SLURM && p[n] == ';'))
        n++;
    if (n == 0)
        return bl_fail(err, "%s printed no job id", bl_sched_program(s));
    if (n >= BL_SUBMIT_MAX_JOBID)
        return bl_fail(err, "%s printed a job id of %zu bytes (at most %d)", bl_sched_program(s), n,
                       BL_SUBMIT_MAX_JOBID - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        bool ok = s == BL_SCHED_SLURM ? (isdigit(c) || c == '_')
                                      : (isalnum(c) || c == '.' || c == '-' || c == '_' || c == '[' || c == ']');
        if (!ok)
            return bl_fail(err, "%s printed '%.*s', not a job id", bl_sched_program(s), (int)(n > 60 ? 60 : n), p);
    }
    memcpy(jobid, p, n);
    jobid[n] = 0;
    return 0;
}

int bl_stageout_argv(bl_sched s, const char *prog, const char *jobid, const char *log,
                     const char *const *extra, size_t nextra, const char *script, bl_argv *out,
                     bl_err *err)
{
    memset(out, 0, sizeof *out);
    size_t n = 0;
    char **a = out->argv;
#define ADD(...)                                                      \
    do {                                                              \
        if (asprintf(&a[n], __VA_ARGS__) < 0) {                       \
            a[n] = NULL;                                              \
            bl_argv_free(out);                                        \
            return bl_fail(err, "out of memory");                     \
        }                                                             \
        n++;                                                          \
    } while (0)
    ADD("%s", prog);
    if (s == BL_SCHED_SLURM) {
        ADD("--parsable");
        ADD("--job-name=offload-%s", jobid);
        ADD("--output=%s", log);
        ADD("--ntasks=1");
        ADD("--dependency=afterany:%s", jobid);
    } else if (s == BL_SCHED_PBS) {
        ADD("-N");
        ADD("offload-%.7s", jobid);   /* PBS names: at most 15 characters on some servers */
        ADD("-j");
        ADD("oe");
        ADD("-o");
        ADD("%s", log);
        ADD("-W");
        ADD("depend=afterany:%s", jobid);
    } else {
        return bl_fail(err, "no scheduler");
    }
    if (nextra > BL_SUBMIT_MAX_STAGEOUT_ARGS) {
        bl_argv_free(out);
        return bl_fail(err, "at most %d options for the stage-out job", BL_SUBMIT_MAX_STAGEOUT_ARGS);
    }
    for (size_t i = 0; i < nextra; i++)
        ADD("%s", extra[i]);
    ADD("%s", script);
#undef ADD
    return 0;
}

void bl_argv_free(bl_argv *a)
{
    for (size_t i = 0; i < sizeof a->argv / sizeof a->argv[0] && a->argv[i]; i++)
        free(a->argv[i]);
    memset(a, 0, sizeof *a);
}
