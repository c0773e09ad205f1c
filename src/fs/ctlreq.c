/* ctlreq: see ctlreq.h. */
#include "fs/ctlreq.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int bl_ctl_next_line(const uint8_t *in, size_t n, char line[BL_CTL_LINE_MAX], size_t *used)
{
    if (n == 0) /* in may be NULL then (an empty buffer): memchr must not see it */
        return 0;
    const uint8_t *nl = memchr(in, '\n', n);
    if (!nl)
        return n >= BL_CTL_LINE_MAX ? -1 : 0;
    size_t len = (size_t)(nl - in);
    if (len >= BL_CTL_LINE_MAX)
        return -1;
    memcpy(line, in, len);
    line[len] = 0;
    if (len && line[len - 1] == '\r')
        line[len - 1] = 0;
    *used = len + 1;
    return 1;
}

/* A decimal number followed by one space; advances *p past the space. */
static bool parse_u64(const char **p, uint64_t *v)
{
    char *end;
    errno = 0;
    if (**p < '0' || **p > '9')
        return false;
    unsigned long long x = strtoull(*p, &end, 10);
    if (errno || *end != ' ')
        return false;
    *v = x;
    *p = end + 1;
    return true;
}

void bl_ctl_parse(const char *line, bl_ctl_req *r)
{
    memset(r, 0, sizeof *r);
    if (!strcmp(line, "ping")) {
        r->op = BL_CTL_PING;
    } else if (!strcmp(line, "status")) {
        r->op = BL_CTL_STATUS;
    } else if (!strcmp(line, "opened")) {
        r->op = BL_CTL_OPENED;
    } else if (!strncmp(line, "lookup ", 7)) {
        r->op = BL_CTL_LOOKUP;
        r->path = line + 7;
    } else if (!strncmp(line, "fetch ", 6)) {
        r->op = BL_CTL_FETCH;
        r->path = line + 6;
    } else if (!strncmp(line, "fetch-range ", 12)) {
        const char *p = line + 12;
        if (!parse_u64(&p, &r->off) || !parse_u64(&p, &r->len) || !*p) {
            r->op = BL_CTL_BAD_RANGE;
            r->off = r->len = 0;
        } else {
            r->op = BL_CTL_FETCH_RANGE;
            r->path = p;
        }
    } else {
        r->op = BL_CTL_UNKNOWN;
    }
}

const char *bl_ctl_relative(const char *p, const char *const *roots, size_t nroots)
{
    if (p[0] != '/')
        return p;
    for (size_t i = 0; i < nroots; i++) {
        const char *r = roots[i];
        if (!r || !*r)
            continue;
        size_t n = strlen(r);
        while (n > 1 && r[n - 1] == '/')
            n--;
        if (n == 1 && r[0] == '/')
            return p; /* a set mounted on "/": every absolute path is under it */
        if (strncmp(p, r, n) == 0 && (p[n] == '/' || p[n] == 0))
            return p + n;
    }
    return NULL;
}
