/* submit: what `bitlib offload submit` hands to the batch scheduler.
 *
 * Pure: strings in, strings out; running the scheduler is the front end's
 * (src/cli/offload_submit.c).  The offload is arranged as a second job
 * that depends on the first ending in any state:
 *     Slurm:  sbatch --parsable ARGS... JOB           -> JOBID
 *             sbatch --parsable --job-name=offload-JOBID --output=LOG
 *                    --ntasks=1 --dependency=afterany:JOBID STAGEOUT
 *     PBS:    qsub ARGS... JOB                        -> JOBID
 *             qsub -N offload-JOBID -j oe -o LOG -W depend=afterany:JOBID STAGEOUT
 * JOB is the script less its offload directives (directive.h keeps it byte
 * for byte); STAGEOUT is a /bin/sh script that runs `bitlib offload push`
 * on the #Stageout sources (a directory stands for the regular files
 * directly in it, expanded when the stage-out job runs: the job makes
 * them) with the directives' depots and deadlines, writes the manifest to
 * a path fixed at submission, and on success prints the pull command with
 * the #Stageout DEST.  A job ending in any state (done, failed, cancelled,
 * out of time) is followed by its stage-out: what it left is offloaded. */
#ifndef BL_OFFLOAD_SUBMIT_H
#define BL_OFFLOAD_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "offload/directive.h"

typedef enum bl_sched { BL_SCHED_NONE, BL_SCHED_SLURM, BL_SCHED_PBS } bl_sched;

#define BL_SUBMIT_MAX_JOBID 128
#define BL_SUBMIT_MAX_ARGS 256

/* The scheduler a program name stands for (its base name: sbatch or qsub). */
bl_sched bl_sched_of_program(const char *prog);
const char *bl_sched_name(bl_sched s);            /* "Slurm", "PBS" */
const char *bl_sched_program(bl_sched s);         /* "sbatch", "qsub" */
/* The scheduler the script's own lines ask for (#SBATCH or #PBS, not both);
 * BL_SCHED_NONE otherwise. */
bl_sched bl_sched_of_script(const bl_directives *d);

typedef struct bl_stageout_opts {
    const char *bitlib;           /* absolute path of the bitlib binary the job runs */
    const char *keyfile;          /* absolute */
    const char *manifest;         /* absolute, %j already replaced */
    const char *const *sources;   /* absolute #Stageout sources */
    size_t nsources;
    const char *dest;             /* #Stageout DEST, for the pull command printed */
    const bl_directives *dir;     /* depots and deadlines */
    double purge;                 /* overrides dir->purge when set */
    unsigned k, m, replicas, timeout;
    unsigned long long chunk;
    const char *jobid;
} bl_stageout_opts;

/* The stage-out script, malloc'd; NULL with err on a value that cannot go
 * into it (a NUL or newline in a path) or out of memory. */
char *bl_stageout_script(const bl_stageout_opts *o, bl_err *err);

/* The job id from the scheduler's output: Slurm's --parsable "ID[;CLUSTER]",
 * PBS's "ID.SERVER" (first line, blanks trimmed).  0, or -1 with err when
 * it is not one (empty, several words, odd characters, too long). */
int bl_sched_jobid(bl_sched s, const char *out, char jobid[BL_SUBMIT_MAX_JOBID], bl_err *err);

/* The stage-out submission's command line, every string malloc'd: the
 * options above, then `extra` (the user's own for the stage-out job, e.g.
 * --partition=io or -q io; at most BL_SUBMIT_MAX_STAGEOUT_ARGS), then the
 * script. */
#define BL_SUBMIT_MAX_STAGEOUT_ARGS 32
typedef struct bl_argv {
    char *argv[16 + BL_SUBMIT_MAX_STAGEOUT_ARGS]; /* NULL-terminated */
} bl_argv;
int bl_stageout_argv(bl_sched s, const char *prog, const char *jobid, const char *log,
                     const char *const *extra, size_t nextra, const char *script, bl_argv *out,
                     bl_err *err);
void bl_argv_free(bl_argv *a);

/* "x" -> "'x'" with ' as '\'' (POSIX sh); appended to out (malloc'd, grown). */
int bl_sh_quote(char **out, size_t *len, size_t *cap, const char *s);

#endif
