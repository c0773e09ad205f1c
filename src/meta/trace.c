/* trace: see trace.h. */
#include "meta/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bl_trace_free(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

int bl_trace_read(const char *path, char ***lines, size_t *n, bl_err *err)
{
    *lines = NULL;
    *n = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return bl_fail(err, "%s: %s", path, strerror(errno));
    char buf[BL_TRACE_MAX_LINE + 2];
    size_t cap = 0, lineno = 0;
    int rc = 0;
    while (fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t len = strlen(buf);
        if (len && buf[len - 1] == '\n')
            buf[--len] = 0;
        else if (!feof(f)) {
            rc = bl_fail(err, "%s:%zu: line longer than %d bytes", path, lineno,
                         BL_TRACE_MAX_LINE);
            break;
        }
        const char *p = buf;
        while (p[0] == '/' || (p[0] == '.' && p[1] == '/'))
            p += p[0] == '/' ? 1 : 2;
        if (!*p)
            continue;
        if (*n == BL_TRACE_MAX_LINES) {
            rc = bl_fail(err, "%s: more than %d paths", path, BL_TRACE_MAX_LINES);
            break;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            char **nl = realloc(*lines, nc * sizeof *nl);
            if (!nl) {
                rc = bl_fail(err, "out of memory");
                break;
            }
            *lines = nl;
            cap = nc;
        }
        if (!((*lines)[*n] = strdup(p))) {
            rc = bl_fail(err, "out of memory");
            break;
        }
        (*n)++;
    }
    if (rc == 0 && ferror(f))
        rc = bl_fail(err, "%s: read error", path);
    fclose(f);
    if (rc < 0) {
        bl_trace_free(*lines, *n);
        *lines = NULL;
        *n = 0;
    }
    return rc;
}

struct occ {
    const char *path;
    double rel;      /* position / length in its trace */
    size_t first;    /* global order of appearance */
    size_t trace;
};

static int by_path(const void *a, const void *b)
{
    const struct occ *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int by_rank(const void *a, const void *b)
{
    const struct occ *x = a, *y = b;
    if (x->rel != y->rel)
        return x->rel < y->rel ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

int bl_trace_merge(const bl_trace *traces, size_t ntraces, const char ***out, size_t *nout,
                   bl_err *err)
{
    size_t total = 0;
    for (size_t t = 0; t < ntraces; t++)
        total += traces[t].n;
    *out = NULL;
    *nout = 0;
    struct occ *o = malloc((total ? total : 1) * sizeof *o);
    if (!o)
        return bl_fail(err, "out of memory");
    size_t k = 0;
    for (size_t t = 0; t < ntraces; t++)
        for (size_t i = 0; i < traces[t].n; i++, k++)
            o[k] = (struct occ){traces[t].paths[i], (double)i / (double)traces[t].n, k, t};
    qsort(o, total, sizeof *o, by_path);
    /* one record per path: mean position, first appearance; a path a trace
     * holds twice counts at its first place there (traces name each path
     * once; a hand-made one may not) */
    size_t m = 0;
    for (size_t i = 0; i < total;) {
        size_t j = i;
        double sum = 0;
        size_t cnt = 0, first = o[i].first;
        for (size_t last = (size_t)-1; j < total && !strcmp(o[j].path, o[i].path); j++) {
            if (o[j].trace == last)
                continue; /* sorted by appearance: the trace's first place came first */
            last = o[j].trace;
            sum += o[j].rel;
            cnt++;
            if (o[j].first < first)
                first = o[j].first;
        }
        o[m++] = (struct occ){o[i].path, sum / (double)cnt, first, 0};
        i = j;
    }
    qsort(o, m, sizeof *o, by_rank);
    const char **list = malloc((m ? m : 1) * sizeof *list);
    if (!list) {
        free(o);
        return bl_fail(err, "out of memory");
    }
    for (size_t i = 0; i < m; i++)
        list[i] = o[i].path;
    free(o);
    *out = list;
    *nout = m;
    return 0;
}
