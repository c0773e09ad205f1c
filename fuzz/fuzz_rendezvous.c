/* libFuzzer target: the node-local rendezvous files bitlib run and mount
 * read, which another rank, a killed process or another user's daemon may
 * have left in any state: a /proc/PID/stat text (bl_proc_parse_start), a
 * registry holder's file name and failure record (launch/registry.h) and a
 * cache's lock file (fs/cache.h).
 *
 * Input: one selector byte, then the text (made NUL-terminated).  Checks:
 * no crash or over-read, a holder name that parses prints back to itself,
 * a failure message and a mount point are one line within their buffers. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/cache.h"
#include "launch/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_rendezvous: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    char *t = malloc(size);
    if (!t)
        return 0;
    memcpy(t, data + 1, size - 1);
    t[size - 1] = 0;
    switch (data[0] % 4) {
    case 0: {
        uint64_t start = 7;
        if (bl_proc_parse_start(t, &start) < 0 && start != 7)
            die("a refused stat text changed the start time");
        break;
    }
    case 1: {
        pid_t pid;
        uint64_t start;
        if (bl_reg_parse_holder(t, &pid, &start)) {
            char back[64];
            snprintf(back, sizeof back, "%d.%" PRIu64, (int)pid, start);
            if (pid <= 0 || strcmp(back, t))
                die("a holder name that parsed does not print back to itself");
        }
        break;
    }
    case 2: {
        char msg[600];
        memset(msg, 'x', sizeof msg);
        if (bl_reg_parse_failure(t, 1000, msg, sizeof msg) == 1 &&
            (strchr(msg, '\n') || !memchr(msg, 0, sizeof msg)))
            die("a failure message is not one terminated line");
        break;
    }
    default: {
        pid_t pid;
        char mount[256];
        bl_cache_parse_owner(t, &pid, mount, sizeof mount);
        if (pid < 0 || strchr(mount, '\n'))
            die("bad owner");
        if (pid == 0 && mount[0])
            die("a mount point without a pid");
        break;
    }
    }
    free(t);
    return 0;
}
