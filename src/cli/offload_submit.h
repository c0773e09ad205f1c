/* offload_submit: `bitlib offload submit`, the part that runs the batch
 * scheduler (what it is given is offload/submit.h's). */
#ifndef BL_CLI_OFFLOAD_SUBMIT_H
#define BL_CLI_OFFLOAD_SUBMIT_H

#include <stddef.h>

typedef struct offload_submit_args {
    const char *script;
    const char *keyfile;
    const char *manifest;          /* template with %j; NULL: bitlib-offload-%j.manifest */
    char **sched_argv;             /* after "--": PROGRAM ARGS...; NULL/0: from the script */
    size_t sched_argc;
    double deadline, purge;        /* override the script's when set */
    unsigned k, m, replicas, timeout;
    unsigned long long chunk;
    const char *const *stageout_args; /* --stageout-arg: the stage-out job's own options */
    size_t nstageout;
} offload_submit_args;

/* Exit code: 0 both jobs submitted, 1 the scheduler failed, 2 a mistake
 * (each printed in one line). */
int offload_submit(const offload_submit_args *a);

/* A job script (at most BL_DIR_MAX_SCRIPT + 1 bytes read, so the parser
 * sees an over-long one), malloc'd; NULL after one line "CMD: PATH: why". */
char *offload_read_script(const char *cmd, const char *path, size_t *len);

#endif
