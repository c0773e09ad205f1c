/* env: see env.h. */
#include "launch/env.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"

/* One variable being built: its directories as given (relative or absolute). */
typedef struct var {
    char *name;
    char *dirs[BL_ENV_MAX];
    size_t n;
    bool dropped;
} var;

typedef struct vars {
    var v[BL_ENV_MAX + 2];
    size_t n;
} vars;

static var *find_var(vars *vs, const char *name, size_t len)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strlen(vs->v[i].name) == len && !strncmp(vs->v[i].name, name, len))
            return &vs->v[i];
    if (vs->n == sizeof vs->v / sizeof vs->v[0])
        return NULL;
    var *x = &vs->v[vs->n];
    *x = (var){.name = strndup(name, len)};
    if (!x->name)
        return NULL;
    vs->n++;
    return x;
}

static int add_dir(var *x, const char *d, size_t len)
{
    for (size_t i = 0; i < x->n; i++)
        if (strlen(x->dirs[i]) == len && !strncmp(x->dirs[i], d, len))
            return 0;
    if (x->n == BL_ENV_MAX)
        return 0; /* bounded: the rest are dropped */
    if (!(x->dirs[x->n] = strndup(d, len)))
        return -1;
    x->n++;
    return 0;
}

static void clear_dirs(var *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->dirs[i]);
    x->n = 0;
}

/* Length of the directory part of p[0..len) ("" for a top-level name). */
static size_t dirname_len(const char *p, size_t len)
{
    while (len > 0 && p[len - 1] != '/')
        len--;
    return len ? len - 1 : 0;
}

static bool is_shared_lib(const char *base)
{
    if (strncmp(base, "lib", 3))
        return false;
    const char *so = strstr(base, ".so");
    return so && (so[3] == 0 || so[3] == '.');
}

static bool has_init(const bl_metainfo *mi, const char *dir, size_t len)
{
    char p[4200];
    if (len + sizeof "/__init__.py" > sizeof p)
        return false;
    memcpy(p, dir, len);
    strcpy(p + len, len ? "/__init__.py" : "__init__.py");
    return bl_metainfo_lookup(mi, p) != NULL;
}

static int detect(const bl_metainfo *mi, vars *vs)
{
    var *ld = find_var(vs, "LD_LIBRARY_PATH", 15);
    var *py = find_var(vs, "PYTHONPATH", 10);
    if (!ld || !py)
        return -1;
    for (size_t i = 1; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        const char *base = strrchr(e->path, '/');
        base = base ? base + 1 : e->path;
        size_t dl = dirname_len(e->path, strlen(e->path));
        if ((S_ISREG(e->mode) || S_ISLNK(e->mode)) && is_shared_lib(base)) {
            if (add_dir(ld, e->path, dl) < 0)
                return -1;
        } else if (S_ISREG(e->mode) && !strcmp(base, "__init__.py") && dl > 0) {
            size_t parent = dirname_len(e->path, dl);
            if (!has_init(mi, e->path, parent) && add_dir(py, e->path, parent) < 0)
                return -1;
        } else if (S_ISDIR(e->mode) &&
                   (!strcmp(base, "site-packages") || !strcmp(base, "dist-packages"))) {
            if (add_dir(py, e->path, strlen(e->path)) < 0)
                return -1;
        }
    }
    return 0;
}

static int from_desc(const bl_metainfo *mi, vars *vs)
{
    for (size_t i = 0; i < mi->num_env; i++) {
        var *x = find_var(vs, mi->env[i].name, strlen(mi->env[i].name));
        if (!x)
            return -1;
        for (size_t k = 0; k < mi->env[i].num_dirs; k++)
            if (add_dir(x, mi->env[i].dirs[k], strlen(mi->env[i].dirs[k])) < 0)
                return -1;
    }
    return 0;
}

static int apply_override(vars *vs, const char *o, bl_err *err)
{
    const char *eq = strchr(o, '=');
    if (!eq || eq == o)
        return bl_fail(err, "--env '%s': want NAME=DIR[:DIR...] (or NAME= for none)", o);
    char name[80];
    if ((size_t)(eq - o) >= sizeof name)
        return bl_fail(err, "--env '%s': name too long", o);
    memcpy(name, o, (size_t)(eq - o));
    name[eq - o] = 0;
    if (!bl_env_name_ok(name))
        return bl_fail(err, "--env '%s': '%s' is not a variable name", o, name);
    var *x = find_var(vs, name, strlen(name));
    if (!x)
        return bl_fail(err, "--env: too many variables");
    clear_dirs(x);
    x->dropped = eq[1] == 0;
    for (const char *p = eq + 1; *p;) {
        const char *c = strchr(p, ':');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        while (len > 1 && p[len - 1] == '/')
            len--;
        if (len == 1 && p[0] == '.')
            len = 0, p = "";
        if (add_dir(x, p, len) < 0)
            return bl_fail(err, "out of memory");
        p += c ? (size_t)(c - p) + 1 : strlen(p);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bl_launch_env(const bl_metainfo *mi, const char *root, const char *const *overrides,
                  size_t num_overrides, char ***out, size_t *nout, bl_err *err)
{
    vars *vs = calloc(1, sizeof *vs);
    char **res = NULL;
    size_t nres = 0;
    int rc = -1;
    if (!vs) {
        bl_fail(err, "out of memory");
        return -1;
    }
    if ((mi->num_env ? from_desc(mi, vs) : detect(mi, vs)) < 0) {
        bl_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < num_overrides; i++)
        if (apply_override(vs, overrides[i], err) < 0)
            goto done;
    res = calloc(vs->n + 1, sizeof *res);
    if (!res) {
        bl_fail(err, "out of memory");
        goto done;
    }
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    for (size_t i = 0; i < vs->n; i++) {
        var *x = &vs->v[i];
        if (x->dropped || x->n == 0)
            continue;
        bl_buf b;
        bl_buf_init(&b);
        bl_buf_printf(&b, "%s=", x->name);
        for (size_t k = 0; k < x->n; k++) {
            if (k)
                bl_buf_putc(&b, ':');
            if (x->dirs[k][0] == '/')
                bl_buf_puts(&b, x->dirs[k]);
            else if (x->dirs[k][0])
                bl_buf_printf(&b, "%.*s/%s", (int)rl, root, x->dirs[k]);
            else
                bl_buf_printf(&b, "%.*s", (int)rl, root);
        }
        const char *old = getenv(x->name);
        if (old && *old)
            bl_buf_printf(&b, ":%s", old);
        if (b.oom) {
            bl_buf_free(&b);
            bl_fail(err, "out of memory");
            goto done;
        }
        size_t len;
        res[nres++] = (char *)bl_buf_steal(&b, &len);
    }
    qsort(res, nres, sizeof *res, cmp_str);
    *out = res;
    *nout = nres;
    res = NULL;
    rc = 0;
done:
    if (res)
        bl_launch_env_free(res, nres);
    for (size_t i = 0; i < vs->n; i++) {
        clear_dirs(&vs->v[i]);
        free(vs->v[i].name);
    }
    free(vs);
    return rc;
}

void bl_launch_env_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
