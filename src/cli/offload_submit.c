/* offload_submit: `bitlib offload submit SCRIPT [-- sbatch|qsub ARGS...]`:
 * the job goes to the scheduler without its offload directives, and a
 * stage-out job that depends on it (afterany) pushes its results (the
 * command lines and the stage-out script are offload/submit.h's). */
#include "cli/offload_submit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "offload/directive.h"
#include "offload/okey.h"
#include "offload/submit.h"

extern char **environ;

#define CMD "bitlib offload submit"
#define MAX_OUT 65536   /* what the scheduler may print on stdout */

/* path made absolute against the working directory (not resolved: the job
 * has not made it yet); malloc'd */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return NULL;
    char *p;
    if (asprintf(&p, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path) < 0)
        return NULL;
    return p;
}

/* every %j in tmpl replaced by jobid; malloc'd */
static char *expand(const char *tmpl, const char *jobid)
{
    size_t n = strlen(tmpl) + 1, jl = strlen(jobid);
    for (const char *p = tmpl; (p = strstr(p, "%j")); p += 2)
        n += jl;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        if (p[0] == '%' && p[1] == 'j') {
            memcpy(o, jobid, jl);
            o += jl;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}

/* The program on PATH (or the path given): 0, or -1 after one line. */
static int find_program(const char *prog, bl_sched s)
{
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) == 0)
            return 0;
        fprintf(stderr, CMD ": %s: %s (the %s client)\n", prog, strerror(errno), bl_sched_name(s));
        return -1;
    }
    const char *path = getenv("PATH");
    char *dirs = strdup(path && *path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", d, prog);
        if (access(full, X_OK) == 0) {
            free(dirs);
            return 0;
        }
    }
    free(dirs);
    fprintf(stderr, CMD ": %s not found on PATH: is %s's client installed here? (nothing submitted)\n", prog,
            bl_sched_name(s));
    return -1;
}

/* Run argv, its stdout captured into out (NUL-terminated, at most MAX_OUT
 * bytes), its stderr passed on.  Returns its exit status, or -1 after one
 * line when it could not be run or was killed. */
static int run_capture(char *const argv[], char *out)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        fprintf(stderr, CMD ": pipe: %s\n", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        fprintf(stderr, CMD ": cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    size_t n = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(pfd[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < MAX_OUT - n ? (size_t)r : MAX_OUT - n;
        memcpy(out + n, tmp, take);
        n += take;
    }
    out[n] = 0;
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, CMD ": waitpid %s: %s\n", argv[0], strerror(errno));
            return -1;
        }
    if (WIFSIGNALED(st)) {
        fprintf(stderr, CMD ": %s was killed by signal %d\n", argv[0], WTERMSIG(st));
        return -1;
    }
    return WEXITSTATUS(st);
}

/* The job was submitted but its stage-out was not: cancel the job rather
 * than let it run with nothing to take its results off scratch. */
static void cancel(bl_sched s, const char *prog, const char *jobid)
{
    const char *name = s == BL_SCHED_SLURM ? "scancel" : "qdel";
    char path[PATH_MAX];
    const char *slash = strrchr(prog, '/');
    if (slash)
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - prog), prog, name);
    else
        snprintf(path, sizeof path, "%s", name);
    char id[BL_SUBMIT_MAX_JOBID];
    snprintf(id, sizeof id, "%s", jobid);
    char *argv[] = {path, id, NULL};
    static char out[MAX_OUT + 1];
    int rc = run_capture(argv, out);
    if (rc == 0)
        fprintf(stderr, CMD ": job %s cancelled: without its stage-out its results would stay on scratch; fix the above and submit again\n",
                jobid);
    else
        fprintf(stderr, CMD ": job %s was submitted WITHOUT its stage-out and could not be cancelled (%s exited %d): cancel it or push its results by hand\n",
                jobid, name, rc);
}

/* The script less its directives, written under a private directory with
 * the script's base name (the scheduler names the job after it). */
static char *write_job(const char *script, const bl_directives *d, char *tmpdir, size_t tmpsz)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, tmpsz, "%s/bitlib-submit.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, CMD ": %s: %s\n", tmpdir, strerror(errno));
        tmpdir[0] = 0;
        return NULL;
    }
    const char *base = strrchr(script, '/');
    base = base ? base + 1 : script;
    char *path;
    if (asprintf(&path, "%s/%s", tmpdir, base) < 0)
        return NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    size_t off = 0;
    while (fd >= 0 && off < d->rest_len) {
        ssize_t w = write(fd, d->rest + off, d->rest_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (fd < 0 || off < d->rest_len || close(fd) < 0) {
        fprintf(stderr, CMD ": %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(path);
        return NULL;
    }
    return path;
}

int offload_submit(const offload_submit_args *a)
{
    int rc = 2;
    bl_directives d = {0};
    size_t len = 0;
    char *buf = NULL, *job = NULL, *manifest = NULL, *keyfile = NULL, *script = NULL, *stage_path = NULL,
         *log = NULL, *bitlib = NULL;
    char **sources = NULL;
    char tmpdir[PATH_MAX] = "";
    static char out[MAX_OUT + 1];
    bl_argv sa = {0};
    bl_err err;

    if (!(buf = offload_read_script(CMD, a->script, &len))) {
        rc = 1;
        goto out;
    }
    if (bl_dir_parse(buf, len, time(NULL), &d, &err) < 0) {
        fprintf(stderr, CMD ": %s: %s\n", a->script, err.msg);
        goto out;
    }
    if (d.nstageout == 0) {
        fprintf(stderr, CMD ": %s: no #Stageout SOURCE DEST directive: nothing to offload when the job ends\n", a->script);
        goto out;
    }
    if (d.nnodes == 0) {
        fprintf(stderr, CMD ": %s: no #InterNode or #Landmark directive: nowhere to offload to\n", a->script);
        goto out;
    }
    for (size_t i = 1; i < d.nstageout; i++)
        if (strcmp(d.stageout[i].dest, d.stageout[0].dest)) {
            fprintf(stderr, CMD ": %s: line %u: #Stageout destination '%s' differs from line %u's '%s': one stage-out pushes every source for one destination\n",
                    a->script, d.stageout[i].line, d.stageout[i].dest, d.stageout[0].line, d.stageout[0].dest);
            goto out;
        }
    if (a->deadline)
        d.deadline = a->deadline;

    bl_sched s;
    const char *prog;
    if (a->sched_argc) {
        prog = a->sched_argv[0];
        if ((s = bl_sched_of_program(prog)) == BL_SCHED_NONE) {
            fprintf(stderr, CMD ": '%s' after --: the scheduler's submit command, sbatch (Slurm) or qsub (PBS)\n", prog);
            goto out;
        }
    } else {
        if ((s = bl_sched_of_script(&d)) == BL_SCHED_NONE) {
            fprintf(stderr, CMD ": %s: %s: name the scheduler after --: '-- sbatch' or '-- qsub'\n", a->script,
                    d.slurm ? "the script has both #SBATCH and #PBS lines" : "the script has no #SBATCH or #PBS lines");
            goto out;
        }
        prog = bl_sched_program(s);
    }

    bl_okey key;
    if (bl_okey_load(&key, a->keyfile, &err) < 0) {
        fprintf(stderr, CMD ": %s\n", err.msg);
        goto out;
    }
    memset(&key, 0, sizeof key);
    if (find_program(prog, s) < 0) {
        rc = 1;
        goto out;
    }
    bitlib = realpath("/proc/self/exe", NULL);
    keyfile = realpath(a->keyfile, NULL);
    sources = calloc(d.nstageout, sizeof *sources);
    if (!bitlib || !keyfile || !sources) {
        fprintf(stderr, CMD ": cannot resolve the bitlib binary or the key file: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < d.nstageout; i++)
        if (!(sources[i] = absolute(d.stageout[i].source))) {
            fprintf(stderr, CMD ": %s: %s\n", d.stageout[i].source, strerror(errno));
            rc = 1;
            goto out;
        }
    if (!(job = write_job(a->script, &d, tmpdir, sizeof tmpdir))) {
        rc = 1;
        goto out;
    }

    /* the job: PROGRAM [--parsable] ARGS... JOB */
    size_t n = a->sched_argc ? a->sched_argc : 1;
    char **argv = calloc(n + 3, sizeof *argv);
    if (!argv) {
        rc = 1;
        goto out;
    }
    size_t j = 0;
    char parsable[] = "--parsable";
    char progbuf[PATH_MAX];
    snprintf(progbuf, sizeof progbuf, "%s", prog);
    argv[j++] = progbuf;
    if (s == BL_SCHED_SLURM)
        argv[j++] = parsable;
    for (size_t i = 1; i < a->sched_argc; i++)
        argv[j++] = a->sched_argv[i];
    argv[j++] = job;
    argv[j] = NULL;
    int r = run_capture(argv, out);
    free(argv);
    if (r != 0) {
        if (r > 0)
            fprintf(stderr, CMD ": %s exited %d (its message is above): nothing submitted\n", prog, r);
        rc = 1;
        goto out;
    }
    char jobid[BL_SUBMIT_MAX_JOBID];
    if (bl_sched_jobid(s, out, jobid, &err) < 0) {
        fprintf(stderr, CMD ": %s; the job may have been submitted without its stage-out: check the queue\n", err.msg);
        rc = 1;
        goto out;
    }

    /* the stage-out: its script kept beside the manifest, for a run by hand */
    char *m = expand(a->manifest ? a->manifest : "bitlib-offload-%j.manifest", jobid);
    manifest = m ? absolute(m) : NULL;
    free(m);
    if (!manifest) {
        fprintf(stderr, CMD ": out of memory\n");
        cancel(s, prog, jobid);
        rc = 1;
        goto out;
    }
    size_t ml = strlen(manifest), base = ml > 9 && !strcmp(manifest + ml - 9, ".manifest") ? ml - 9 : ml;
    if (asprintf(&stage_path, "%.*s.stageout.sh", (int)base, manifest) < 0 ||
        asprintf(&log, "%.*s.log", (int)base, manifest) < 0) {
        stage_path = log = NULL;
        fprintf(stderr, CMD ": out of memory\n");
        cancel(s, prog, jobid);
        rc = 1;
        goto out;
    }
    bl_stageout_opts so = {.bitlib = bitlib, .keyfile = keyfile, .manifest = manifest,
                           .sources = (const char *const *)sources, .nsources = d.nstageout,
                           .dest = d.stageout[0].dest, .dir = &d, .purge = a->purge, .k = a->k, .m = a->m,
                           .replicas = a->replicas, .timeout = a->timeout, .chunk = a->chunk, .jobid = jobid};
    if (!(script = bl_stageout_script(&so, &err)) ||
        cli_write_file(stage_path, (const uint8_t *)script, strlen(script), &err) < 0 ||
        bl_stageout_argv(s, prog, jobid, log, a->stageout_args, a->nstageout, stage_path, &sa, &err) < 0) {
        fprintf(stderr, CMD ": the stage-out of job %s: %s\n", jobid, err.msg);
        cancel(s, prog, jobid);
        rc = 1;
        goto out;
    }
    r = run_capture(sa.argv, out);
    char stageid[BL_SUBMIT_MAX_JOBID];
    if (r != 0 || bl_sched_jobid(s, out, stageid, &err) < 0) {
        if (r == 0)
            fprintf(stderr, CMD ": the stage-out of job %s: %s\n", jobid, err.msg);
        else if (r > 0)
            fprintf(stderr, CMD ": the stage-out of job %s: %s exited %d (its message is above)\n", jobid, prog, r);
        cancel(s, prog, jobid);
        rc = 1;
        goto out;
    }
    printf("submitted job %s (%s) without its %u offload directive%s; stage-out job %s runs when it ends "
           "(%s%s): pushes %zu source%s to %zu depot%s, manifest %s, log %s; then: bitlib offload pull %s --out %s\n",
           jobid, bl_sched_name(s), d.directives, d.directives == 1 ? "" : "s", stageid,
           s == BL_SCHED_SLURM ? "--dependency=afterany:" : "-W depend=afterany:", jobid, d.nstageout,
           d.nstageout == 1 ? "" : "s", d.nnodes, d.nnodes == 1 ? "" : "s", manifest, log, manifest,
           d.stageout[0].dest);
    rc = 0;
out:
    if (job) {
        unlink(job);
        free(job);
    }
    if (tmpdir[0])
        rmdir(tmpdir);
    for (size_t i = 0; sources && i < d.nstageout; i++)
        free(sources[i]);
    free(sources);
    bl_argv_free(&sa);
    free(script);
    free(stage_path);
    free(log);
    free(manifest);
    free(keyfile);
    free(bitlib);
    free(buf);
    bl_dir_free(&d);
    return rc;
}
