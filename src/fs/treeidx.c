/* treeidx: see treeidx.h.  Plain libc only (the audit library compiles it). */
#include "fs/treeidx.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int cmp_n(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = memcmp(a, b, m);
    if (c)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Every component non-empty and neither "." nor "..", as descriptions have them. */
static bool canonical(const char *p, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t c = j - i;
        if (c == 0 || (c == 1 && p[i] == '.') || (c == 2 && p[i] == '.' && p[i + 1] == '.'))
            return false;
        i = j + 1;
    }
    return true;
}

static size_t path_len(const bl_treeidx *ix, size_t i)
{
    const char *s = ix->text + ix->line[i];
    const char *nl = memchr(s, '\n', ix->len - ix->line[i]);
    return (size_t)(nl - s);
}

int bl_treeidx_parse(bl_treeidx *ix, const char *text, size_t len)
{
    memset(ix, 0, sizeof *ix);
    size_t ml = sizeof BL_TREEIDX_MAGIC - 1;
    if (len > BL_TREEIDX_MAX_BYTES || len < ml || memcmp(text, BL_TREEIDX_MAGIC, ml))
        return -1;
    if (len > ml && text[len - 1] != '\n')
        return -1;
    size_t lines = 0;
    for (size_t i = ml; i < len; i++)
        lines += text[i] == '\n';
    size_t *line = malloc((lines ? lines : 1) * sizeof *line);
    if (!line)
        return -1;
    size_t n = 0, pos = ml;
    const char *prev = NULL;
    size_t prevn = 0;
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t ll = (size_t)(nl - s);
        /* "T P": a type letter, one space, a non-empty path without NUL */
        if (ll < 3 || (s[0] != 'f' && s[0] != 'd' && s[0] != 'l') || s[1] != ' ' ||
            memchr(s + 2, 0, ll - 2) || !canonical(s + 2, ll - 2))
            goto bad;
        const char *p = s + 2;
        size_t pn = ll - 2;
        if (prev && cmp_n(prev, prevn, p, pn) >= 0)
            goto bad; /* unsorted or repeated: the binary search would lie */
        line[n++] = pos + 2;
        prev = p;
        prevn = pn;
        pos += ll + 1;
    }
    ix->text = text;
    ix->len = len;
    ix->line = line;
    ix->n = n;
    return 0;
bad:
    free(line);
    return -1;
}

void bl_treeidx_free(bl_treeidx *ix)
{
    free(ix->line);
    memset(ix, 0, sizeof *ix);
}

char bl_treeidx_type(const bl_treeidx *ix, const char *p, size_t n)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_n(ix->text + ix->line[mid], path_len(ix, mid), p, n);
        if (c == 0)
            return ix->text[ix->line[mid] - 2];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int bl_treeidx_classify(const bl_treeidx *ix, const char *rel, char *norm, size_t normsz)
{
    if (normsz == 0)
        return BL_TREEIDX_MISS;
    size_t len = 0; /* of norm */
    const char *p = rel;
    char type = 'd'; /* the root */
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t cn = end ? (size_t)(end - p) : strlen(p);
        if (type != 'd')
            return BL_TREEIDX_MISS; /* a component below a file */
        if (cn == 1 && p[0] == '.') {
            /* nothing */
        } else if (cn == 2 && p[0] == '.' && p[1] == '.') {
            if (len == 0)
                return BL_TREEIDX_MISS; /* above the set's root */
            while (len > 0 && norm[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* the '/' */
        } else {
            size_t need = len + (len ? 1 : 0) + cn;
            if (need + 1 > normsz)
                return BL_TREEIDX_MISS;
            if (len)
                norm[len++] = '/';
            memcpy(norm + len, p, cn);
            len += cn;
            type = bl_treeidx_type(ix, norm, len);
            if (type == 0)
                return BL_TREEIDX_MISS;
            if (type == 'l')
                return BL_TREEIDX_ASK;
        }
        p += cn;
    }
    norm[len] = 0;
    return type == 'f' ? BL_TREEIDX_FILE : BL_TREEIDX_MISS;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The JSON string starting after its opening quote at s, decoded into out. */
static int json_string(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (;;) {
        char c = *s++;
        if (c == 0)
            return -1;
        if (c == '"')
            break;
        if (c == '\\') {
            char e = *s++;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(s[i]);
                    if (h < 0)
                        return -1;
                    v = v * 16 + h;
                }
                if (v == 0 || v >= 0x80)
                    return -1;
                s += 4;
                c = (char)v;
                break;
            }
            default:
                return -1;
            }
        }
        if (o + 1 >= outsz)
            return -1;
        out[o++] = c;
    }
    out[o] = 0;
    return 0;
}

/* The value of top-level "key": in a flat object of our own making (the
 * daemon's replies have no nested objects before these keys). */
static const char *field(const char *line, const char *key)
{
    size_t kn = strlen(key);
    for (const char *p = strchr(line, '"'); p; p = strchr(p + 1, '"')) {
        if (!strncmp(p + 1, key, kn) && p[kn + 1] == '"' && p[kn + 2] == ':')
            return p + kn + 3;
    }
    return NULL;
}

int bl_treeidx_reply(const char *line, const char *key, char *out, size_t outsz)
{
    if (strncmp(line, "{\"ok\":", 6))
        return -1;
    bool ok;
    if (!strncmp(line + 6, "true", 4))
        ok = true;
    else if (!strncmp(line + 6, "false", 5))
        ok = false;
    else
        return -1;
    const char *v = field(line, ok ? key : "error");
    if (!v || *v != '"')
        return -1;
    if (json_string(v + 1, out, outsz) < 0)
        return -1;
    return ok ? 1 : 0;
}
