/* directive: the offload directives of a job script (the paper's Figure 4).
 *
 * Pure: a function of the script's bytes and the time "now" (for relative
 * deadlines); no I/O.  A directive is a line that starts, in column 1, with
 * one of
 *     #Stageout SOURCE DEST            what to offload, and where it goes
 *     #InterNode HOST:PORT:SIZE        a depot and the room it offers (repeatable)
 *     #Landmark HOST:PORT[:SIZE]       a landmark depot, used after the others
 *     #Deadline WHEN                   the user's delivery deadline
 *     #PurgeDeadline WHEN              when the center purges the results
 * (keywords in any case, followed by a blank or the end of the line), or
 * the same keyword after "#BITLIB " ("#BITLIB InterNode n1:49665:50GB"),
 * the form to use among #PBS or #SBATCH lines so that other tools read it
 * as a comment.  SIZE is as units.h reads it (50GB, 64M); WHEN also takes
 * the paper's 1/14/2007:12:00.  Every other line (the shebang, #PBS,
 * #SBATCH, commands, comments such as "# Stageout later") is the job's and
 * is kept, in order and byte for byte, in `rest`: what is handed to the
 * scheduler.  A line after "#BITLIB " that is not a known directive, a
 * value that does not parse, a repeated #Deadline, too many nodes, a NUL
 * byte or a line over BL_DIR_MAX_LINE bytes is an error naming the line
 * and column (1-based, in bytes). */
#ifndef BL_OFFLOAD_DIRECTIVE_H
#define BL_OFFLOAD_DIRECTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"

#define BL_DIR_MAX_SCRIPT (1u << 20)
#define BL_DIR_MAX_LINE 4096
#define BL_DIR_MAX_NODES 64      /* InterNode + Landmark (the planner's limit) */
#define BL_DIR_MAX_STAGEOUT 64
#define BL_DIR_MAX_HOST 255

typedef struct bl_dir_node {
    char addr[BL_DIR_MAX_HOST + 8];   /* "host:port" as written, the capacity cut off */
    uint64_t capacity;                /* bytes; 0: not given (landmarks only) */
    bool landmark;
    unsigned line;
} bl_dir_node;

typedef struct bl_dir_stageout {
    char *source, *dest;
    unsigned line;
} bl_dir_stageout;

typedef struct bl_directives {
    bl_dir_node node[BL_DIR_MAX_NODES];
    size_t nnodes;
    bl_dir_stageout stageout[BL_DIR_MAX_STAGEOUT];
    size_t nstageout;
    double deadline, purge;           /* epoch seconds; 0: none */
    bool pbs, slurm;                  /* the script has #PBS / #SBATCH lines */
    char *rest;                       /* the script without the offload directives */
    size_t rest_len;
    unsigned directives;              /* lines taken out */
} bl_directives;

/* 0, or -1 with err "line L, column C: what" (out is then empty). */
int bl_dir_parse(const char *buf, size_t len, time_t now, bl_directives *out, bl_err *err);
void bl_dir_free(bl_directives *d);

/* One "HOST:PORT[:SIZE]" as #InterNode (need_capacity) or #Landmark reads
 * it, for command lines that take the same form (bitlib offload push
 * --depot); out->line is 0. */
int bl_dir_parse_node(const char *s, bool need_capacity, bl_dir_node *out, bl_err *err);

#endif
