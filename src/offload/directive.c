/* directive: job-script offload directives (see directive.h). */
#include "offload/directive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "offload/units.h"

enum kw { KW_NONE, KW_STAGEOUT, KW_INTERNODE, KW_LANDMARK, KW_DEADLINE, KW_PURGE };

static const struct {
    const char *name;
    enum kw kw;
} keywords[] = {
    {"Stageout", KW_STAGEOUT}, {"InterNode", KW_INTERNODE}, {"Landmark", KW_LANDMARK},
    {"Deadline", KW_DEADLINE}, {"PurgeDeadline", KW_PURGE},
};

#define MAX_ARGS 4

typedef struct tok {
    const char *p;
    size_t n;
    unsigned col;
} tok;

static bool blank(char c) { return c == ' ' || c == '\t'; }

/* keyword at p (n bytes available) followed by a blank or the end */
static enum kw keyword(const char *p, size_t n, size_t *klen)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
        size_t l = strlen(keywords[i].name);
        if (n >= l && !strncasecmp(p, keywords[i].name, l) && (n == l || blank(p[l]))) {
            *klen = l;
            return keywords[i].kw;
        }
    }
    return KW_NONE;
}

static int at(bl_err *err, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int at(bl_err *err, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line == 0)   /* a value from the command line: no position */
        return bl_fail(err, "%s", msg);
    return bl_fail(err, "line %u, column %u: %s", line, col, msg);
}

/* "HOST:PORT[:SIZE]": the address and the size (0 when absent). */
static int node(const tok *t, bool need_cap, bl_dir_node *out, unsigned line, bl_err *err)
{
    char s[BL_DIR_MAX_LINE + 1];
    memcpy(s, t->p, t->n);
    s[t->n] = 0;
    const char *host_end = s;
    if (s[0] == '[') {
        host_end = strchr(s, ']');
        if (!host_end)
            return at(err, line, t->col, "'%s': an IPv6 address needs its closing ']'", s);
    }
    char *c1 = strchr(host_end, ':');
    if (!c1 || c1 == s)
        return at(err, line, t->col, "'%s': expected HOST:PORT%s", s, need_cap ? ":SIZE" : "[:SIZE]");
    char *c2 = strchr(c1 + 1, ':');
    size_t hostlen = (size_t)(c1 - s);
    if (hostlen > BL_DIR_MAX_HOST)
        return at(err, line, t->col, "host name of %zu bytes (at most %d)", hostlen, BL_DIR_MAX_HOST);
    char *end;
    errno = 0;
    unsigned long port = strtoul(c1 + 1, &end, 10);
    if (end == c1 + 1 || (c2 ? end != c2 : *end != 0) || errno || port < 1 || port > 65535 || c1[1] == '+' ||
        c1[1] == '-')
        return at(err, line, t->col + (unsigned)(c1 + 1 - s), "port '%.*s': expected 1 to 65535",
                  (int)((c2 ? c2 : s + t->n) - (c1 + 1)), c1 + 1);
    out->capacity = 0;
    if (c2) {
        bl_err e;
        if (bl_parse_bytes(c2 + 1, &out->capacity, &e) < 0)
            return at(err, line, t->col + (unsigned)(c2 + 1 - s), "%s", e.msg);
        if (out->capacity == 0)
            return at(err, line, t->col + (unsigned)(c2 + 1 - s), "a capacity of 0 bytes leaves nothing to store");
    } else if (need_cap) {
        return at(err, line, t->col, "'%s': InterNode needs HOST:PORT:SIZE (the room it offers, e.g. 50GB)", s);
    }
    size_t alen = (size_t)((c2 ? c2 : s + t->n) - s);
    memcpy(out->addr, s, alen);
    out->addr[alen] = 0;
    out->line = line;
    return 0;
}

int bl_dir_parse_node(const char *s, bool need_capacity, bl_dir_node *out, bl_err *err)
{
    size_t n = strlen(s);
    if (n > BL_DIR_MAX_LINE)
        return bl_fail(err, "'%.40s...': too long", s);
    tok t = {s, n, 1};
    return node(&t, need_capacity, out, 0, err);
}

static char *dup_tok(const tok *t)
{
    char *p = malloc(t->n + 1);
    if (p) {
        memcpy(p, t->p, t->n);
        p[t->n] = 0;
    }
    return p;
}

static int when(const tok *t, time_t now, double *out, unsigned line, bl_err *err)
{
    char s[BL_DIR_MAX_LINE + 1];
    memcpy(s, t->p, t->n);
    s[t->n] = 0;
    bl_err e;
    if (bl_parse_when(s, now, out, &e) < 0)
        return at(err, line, t->col, "%s", e.msg);
    return 0;
}

static int directive(bl_directives *d, enum kw kw, const char *name, const tok *args, size_t nargs,
                     unsigned kwcol, unsigned line, unsigned endcol, time_t now, bl_err *err)
{
    size_t want = kw == KW_STAGEOUT ? 2 : 1;
    if (nargs < want)
        return at(err, line, endcol, "%s needs %s", name,
                  kw == KW_STAGEOUT   ? "SOURCE and DEST"
                  : kw == KW_INTERNODE ? "HOST:PORT:SIZE"
                  : kw == KW_LANDMARK  ? "HOST:PORT[:SIZE]"
                                       : "a time (+600, 2h, 2026-12-02T17:00Z, 1/14/2007:12:00)");
    if (nargs > want)
        return at(err, line, args[want].col, "%s takes %zu value%s; '%.*s' is one too many", name, want,
                  want == 1 ? "" : "s", (int)args[want].n, args[want].p);
    switch (kw) {
    case KW_STAGEOUT: {
        if (d->nstageout == BL_DIR_MAX_STAGEOUT)
            return at(err, line, kwcol, "more than %d Stageout directives", BL_DIR_MAX_STAGEOUT);
        bl_dir_stageout *s = &d->stageout[d->nstageout];
        if (!(s->source = dup_tok(&args[0])) || !(s->dest = dup_tok(&args[1]))) {
            free(s->source);
            return bl_fail(err, "out of memory");
        }
        s->line = line;
        d->nstageout++;
        return 0;
    }
    case KW_INTERNODE:
    case KW_LANDMARK: {
        if (d->nnodes == BL_DIR_MAX_NODES)
            return at(err, line, kwcol, "more than %d InterNode and Landmark directives", BL_DIR_MAX_NODES);
        bl_dir_node *n = &d->node[d->nnodes];
        if (node(&args[0], kw == KW_INTERNODE, n, line, err) < 0)
            return -1;
        n->landmark = kw == KW_LANDMARK;
        for (size_t i = 0; i < d->nnodes; i++)
            if (!strcmp(d->node[i].addr, n->addr))
                return at(err, line, args[0].col, "%s is named already on line %u", n->addr, d->node[i].line);
        d->nnodes++;
        return 0;
    }
    case KW_DEADLINE:
    case KW_PURGE: {
        double *slot = kw == KW_DEADLINE ? &d->deadline : &d->purge;
        if (*slot)
            return at(err, line, kwcol, "a second %s (one per script)", name);
        if (when(&args[0], now, slot, line, err) < 0)
            return -1;
        if (*slot <= 0)
            return at(err, line, args[0].col, "%s before 1970", name);
        return 0;
    }
    case KW_NONE:
        break;
    }
    return at(err, line, kwcol, "unknown directive");
}

/* One line (without its newline): 1 if it was a directive, 0 if it is the
 * job's, -1 on error. */
static int one_line(bl_directives *d, const char *p, size_t n, unsigned line, time_t now, bl_err *err)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0 || p[0] != '#')
        return 0;
    size_t off = 1, klen = 0;
    enum kw kw;
    if (n >= 7 && !strncasecmp(p, "#BITLIB", 7) && (n == 7 || blank(p[7]))) {
        off = 7;
        while (off < n && blank(p[off]))
            off++;
        kw = keyword(p + off, n - off, &klen);
        if (kw == KW_NONE) {
            size_t e = off;
            while (e < n && !blank(p[e]))
                e++;
            if (e == off)
                return at(err, line, (unsigned)off + 1,
                          "#BITLIB needs a directive: Stageout, InterNode, Landmark, Deadline or PurgeDeadline");
            return at(err, line, (unsigned)off + 1,
                      "'%.*s' is not an offload directive (Stageout, InterNode, Landmark, Deadline, PurgeDeadline)",
                      (int)(e - off), p + off);
        }
    } else {
        kw = keyword(p + 1, n - 1, &klen);
        if (kw == KW_NONE) {
            if (n >= 4 && !strncmp(p, "#PBS", 4) && (n == 4 || blank(p[4])))
                d->pbs = true;
            if (n >= 7 && !strncmp(p, "#SBATCH", 7) && (n == 7 || blank(p[7])))
                d->slurm = true;
            return 0;
        }
    }
    unsigned kwcol = (unsigned)off + 1;
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)klen, p + off);
    tok args[MAX_ARGS + 1];
    size_t nargs = 0;
    size_t i = off + klen;
    while (i < n && nargs <= MAX_ARGS) {
        while (i < n && blank(p[i]))
            i++;
        if (i == n)
            break;
        size_t s = i;
        while (i < n && !blank(p[i]))
            i++;
        args[nargs++] = (tok){p + s, i - s, (unsigned)s + 1};
    }
    return directive(d, kw, name, args, nargs, kwcol, line, (unsigned)n + 1, now, err) < 0 ? -1 : 1;
}

int bl_dir_parse(const char *buf, size_t len, time_t now, bl_directives *out, bl_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > BL_DIR_MAX_SCRIPT)
        return bl_fail(err, "script of %zu bytes (at most %u)", len, BL_DIR_MAX_SCRIPT);
    if (!(out->rest = malloc(len + 1)))
        return bl_fail(err, "out of memory");
    unsigned line = 0;
    for (size_t pos = 0; pos < len;) {
        line++;
        const char *p = buf + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        size_t whole = nl ? n + 1 : n;
        const char *nul = memchr(p, 0, n);
        if (nul) {
            at(err, line, (unsigned)(nul - p) + 1, "a NUL byte (not a text file?)");
            goto bad;
        }
        if (n > BL_DIR_MAX_LINE) {
            at(err, line, BL_DIR_MAX_LINE + 1, "line longer than %d bytes", BL_DIR_MAX_LINE);
            goto bad;
        }
        int r = one_line(out, p, n, line, now, err);
        if (r < 0)
            goto bad;
        if (r == 0) {
            memcpy(out->rest + out->rest_len, p, whole);
            out->rest_len += whole;
        } else {
            out->directives++;
        }
        pos += whole;
    }
    out->rest[out->rest_len] = 0;
    return 0;
bad:
    bl_dir_free(out);
    return -1;
}

void bl_dir_free(bl_directives *d)
{
    for (size_t i = 0; i < d->nstageout; i++) {
        free(d->stageout[i].source);
        free(d->stageout[i].dest);
    }
    free(d->rest);
    memset(d, 0, sizeof *d);
}
