/* libFuzzer target: job-script offload directives (offload/directive.h),
 * what users write into PBS and Slurm scripts.
 *
 * Checks: an error names a line and a column within the script; a parsed
 * script's kept part (`rest`) is the script less exactly the directive
 * lines, in order (so it is never longer, and parsing it again finds no
 * directive and keeps it whole); nodes are distinct "host:port" strings
 * within their bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offload/directive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_directives d, again;
    bl_err err;
    const char *s = (const char *)data;
    if (bl_dir_parse(s, size, 1700000000, &d, &err) < 0) {
        unsigned line = 0, col = 0;
        if (size <= BL_DIR_MAX_SCRIPT) {
            check(sscanf(err.msg, "line %u, column %u:", &line, &col) == 2 || !strcmp(err.msg, "out of memory"));
            unsigned lines = 1;
            for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
            check(line >= 1 && line <= lines && col >= 1 && col <= BL_DIR_MAX_LINE + 1);
        }
        check(d.rest == NULL);
        return 0;
    }
    check(d.rest_len <= size && d.rest[d.rest_len] == 0);
    check(d.nnodes <= BL_DIR_MAX_NODES && d.nstageout <= BL_DIR_MAX_STAGEOUT);
    for (size_t i = 0; i < d.nnodes; i++) {
        check(strlen(d.node[i].addr) > 0 && strchr(d.node[i].addr, ':') != NULL);
        check(d.node[i].landmark || d.node[i].capacity > 0);
        for (size_t j = 0; j < i; j++)
            check(strcmp(d.node[i].addr, d.node[j].addr) != 0);
    }
    for (size_t i = 0; i < d.nstageout; i++)
        check(d.stageout[i].source[0] && d.stageout[i].dest[0]);
    /* rest is a subsequence of whole lines of the script */
    size_t r = 0, pos = 0;
    unsigned dropped = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t whole = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
        if (r + whole <= d.rest_len && !memcmp(d.rest + r, data + pos, whole))
            r += whole;
        else
            dropped++;
        pos += whole;
    }
    check(r == d.rest_len && dropped == d.directives);
    check(bl_dir_parse(d.rest, d.rest_len, 1700000000, &again, &err) == 0);
    check(again.directives == 0 && again.rest_len == d.rest_len && !memcmp(again.rest, d.rest, d.rest_len));
    bl_dir_free(&again);
    bl_dir_free(&d);
    return 0;
}
