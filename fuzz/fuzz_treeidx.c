/* libFuzzer target: what the LD_AUDIT library parses (fs/treeidx.h): the
 * tree index file and the control socket's fetch replies.
 *
 * The input's first byte chooses: even, the rest is an index file, parsed;
 * if accepted, every path of it must classify as itself (f: FILE with the
 * same name, d: MISS, l: ASK) and some derived candidates must classify
 * without overrunning anything.  Odd, the rest is a reply line (cut at its
 * first NUL), parsed for "tree"; what comes out must fit and hold no NUL
 * before its end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/treeidx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_treeidx: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    if ((data[0] & 1) == 0) {
        bl_treeidx ix;
        if (bl_treeidx_parse(&ix, text, size - 1) == 0) {
            for (size_t i = 0; i < ix.n; i++) {
                const char *p = text + ix.line[i];
                size_t n = strcspn(p, "\n");
                char path[4096 + 2], norm[4096];
                if (n >= sizeof path - 1)
                    continue;
                path[0] = '/';
                memcpy(path + 1, p, n);
                path[n + 1] = 0;
                char t = bl_treeidx_type(&ix, p, n);
                if (t != p[-2])
                    die("a listed path has another type");
                int k = bl_treeidx_classify(&ix, path, norm, sizeof norm);
                /* a path with '.', '..' or empty components is not itself */
                if (strstr(path, "/./") || strstr(path, "/../") || strstr(path, "//"))
                    continue;
                size_t pl = strlen(path);
                if ((pl >= 2 && !strcmp(path + pl - 2, "/.")) ||
                    (pl >= 3 && !strcmp(path + pl - 3, "/..")))
                    continue;
                if (k == BL_TREEIDX_FILE && (t != 'f' || strcmp(norm, path + 1)))
                    die("a file classified as something else");
                if (k == BL_TREEIDX_FILE && strlen(norm) >= sizeof norm)
                    die("norm overran");
            }
            char norm[8];
            bl_treeidx_classify(&ix, text[0] ? text : "/", norm, sizeof norm);
            bl_treeidx_free(&ix);
        }
    } else {
        char out[256];
        int r = bl_treeidx_reply(text, "tree", out, sizeof out);
        if (r >= 0 && strlen(out) >= sizeof out)
            die("reply field overran");
    }
    free(text);
    return 0;
}
