/* elfdeps: see meta/elfdeps.h -- an emulation of glibc ld.so's search
 * (_dl_map_object) over the set.
 *
 * Every path is an absolute string in the namespace of a node that mounts
 * the set; the set root is `vroot` (the mount point, or a private marker when
 * there is none).  canon() decides per path whether it is in the set (under
 * vroot, or lexically under a disk root: rewritten under vroot) or a host
 * path.  resolve() walks a path one component at a time like the kernel does,
 * following symlinks (at most 40), reading set paths through their disk
 * roots; ".." never climbs above vroot.
 *
 * The walk mirrors glibc 2.36 elf/dl-load.c and dl-deps.c: objects are loaded
 * breadth-first; before searching, a name is matched against the names each
 * loaded object was requested by and its SONAME; after a file is found, it is
 * the same object as a loaded one with the same device and inode. */
#include "meta/elfdeps.h"

#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define MAX_LINKS 40            /* the kernel's MAXSYMLINKS */
#define MAX_PATH_LEN 4096
#define MAX_CONF_DEPTH 4        /* ld.so.conf include nesting */
#define MAX_SYSDIRS 1024
#define EM_386_ 3
#define EM_X86_64_ 62
#define EM_AARCH64_ 183

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

typedef struct droot {
    char *prefix;       /* set prefix, no leading/trailing '/' */
    char *disk;         /* as given */
    char *abs;          /* absolute, lexically normalised */
    char *real;         /* realpath, or NULL */
} droot;

typedef struct found {
    char *named;        /* directory resolved, last component as the loader named it */
    char *final;        /* after following symlinks */
    bl_elfinfo info;
    dev_t dev;
    ino_t ino;
    strlist extras;     /* glibc-hwcaps variants in the set */
} found;

typedef struct obj {
    char *named, *final, *origin;
    strlist names;      /* names matched without a search: requested names, SONAME */
    bl_elfinfo info;
    bool have_file;     /* false for a placeholder (an interpreter we cannot read) */
    dev_t dev;
    ino_t ino;
    long loader;        /* object that first loaded it, -1 for the roots */
} obj;

typedef struct ctx {
    const bl_elfdeps_opts *o;
    char *vroot;
    droot *roots;
    size_t nroots;
    obj *objs;
    size_t nobjs, capobjs;
    strlist sysdirs;
    bool sysdirs_loaded, warned_platform, warned_lib;
    strlist setfiles;   /* every file of the set (set paths), read when a hint needs it */
    bool setfiles_loaded;
    uint8_t cls, data;
    uint16_t machine;
    char ***out;
    size_t *nout;
    bool oom;
} ctx;

/* -- small string helpers -- */

static char *cat3(ctx *c, const char *a, const char *b, const char *d)
{
    size_t la = strlen(a), lb = strlen(b), ld = strlen(d);
    char *s = malloc(la + lb + ld + 1);
    if (!s) {
        c->oom = true;
        return NULL;
    }
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, d, ld + 1);
    return s;
}

/* Join a directory ("/" or "/x/y") and a name. */
static char *pjoin(ctx *c, const char *dir, const char *name)
{
    size_t l = strlen(dir);
    return cat3(c, dir, (l && dir[l - 1] == '/') ? "" : "/", name);
}

static bool sl_push(ctx *c, strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) {
        c->oom = true;
        return false;
    }
    l->n++;
    return true;
}

static bool sl_has(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Lexically normalise an absolute path: no ".", "..", empty components or
 * trailing '/'; ".." at "/" stays at "/". */
static char *lexnorm(ctx *c, const char *abs)
{
    size_t n = strlen(abs);
    char *out = malloc(n + 2);
    if (!out) {
        c->oom = true;
        return NULL;
    }
    size_t o = 0;
    const char *p = abs;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* If normalised path lies at or under normalised root, the rest ("" or
 * "a/b"), else NULL. */
static const char *under(const char *path, const char *root)
{
    if (strcmp(root, "/") == 0)
        return path[0] == '/' ? path + 1 : NULL;
    size_t l = strlen(root);
    if (strncmp(path, root, l) != 0)
        return NULL;
    if (path[l] == '\0')
        return path + l;
    return path[l] == '/' ? path + l + 1 : NULL;
}

/* Same for set-relative paths ("" is the set root). */
static const char *under_rel(const char *rel, const char *prefix)
{
    if (prefix[0] == '\0')
        return rel;
    size_t l = strlen(prefix);
    if (strncmp(rel, prefix, l) != 0)
        return NULL;
    if (rel[l] == '\0')
        return rel + l;
    return rel[l] == '/' ? rel + l + 1 : NULL;
}

/* The set path of a canonical path, or NULL for host paths. */
static const char *set_rel(const ctx *c, const char *canon)
{
    return under(canon, c->vroot);
}

/* Canonical form of a normalised absolute path (see the top of Part 2). */
static char *canon(ctx *c, const char *path)
{
    if (set_rel(c, path))
        return strdup(path);
    for (size_t i = 0; i < c->nroots; i++) {
        const droot *r = &c->roots[i];
        const char *rest = under(path, r->abs);
        if (!rest && r->real)
            rest = under(path, r->real);
        if (!rest)
            continue;
        const char *p = r->prefix;
        char *a = cat3(c, c->vroot, *p ? "/" : "", p);
        if (!a)
            return NULL;
        char *s = cat3(c, a, *rest ? "/" : "", rest);
        free(a);
        return s;
    }
    char *s = strdup(path);
    if (!s)
        c->oom = true;
    return s;
}

enum { DISK_NONE, DISK_VIRTUAL, DISK_PATH };

/* Where a canonical path lives on this machine. */
static int disk_of(ctx *c, const char *cp, char **disk)
{
    *disk = NULL;
    const char *rel = set_rel(c, cp);
    if (!rel) {
        *disk = strdup(cp);
        return *disk ? DISK_PATH : (c->oom = true, DISK_NONE);
    }
    for (size_t i = 0; i < c->nroots; i++) {
        const char *rest = under_rel(rel, c->roots[i].prefix);
        if (!rest)
            continue;
        *disk = cat3(c, c->roots[i].disk, *rest ? "/" : "", rest);
        return *disk ? DISK_PATH : DISK_NONE;
    }
    /* A directory above some prefix (several roots) exists only in the set. */
    size_t l = strlen(rel);
    for (size_t i = 0; i < c->nroots; i++) {
        const char *p = c->roots[i].prefix;
        if (l == 0 || (strncmp(p, rel, l) == 0 && p[l] == '/'))
            return DISK_VIRTUAL;
    }
    return DISK_NONE;
}

/* Follow path like the kernel would.  On success *out is the canonical path
 * reached and *st its lstat (a virtual set directory reads as a directory).
 * follow_last=false leaves a final symlink as it is. */
static int resolve(ctx *c, const char *path, bool follow_last, char **out, struct stat *st)
{
    char *rem = strdup(path), *done = strdup(""), *disk = NULL;
    int links = 0, rc = -1;
    size_t pos = 0;
    if (!rem || !done) {
        c->oom = true;
        goto out;
    }
    for (;;) {
        while (rem[pos] == '/')
            pos++;
        if (!rem[pos])
            break;
        const char *comp = rem + pos;
        size_t clen = strcspn(comp, "/");
        pos += clen;
        size_t after = pos;
        while (rem[after] == '/')
            after++;
        bool last = rem[after] == '\0';
        if (clen == 1 && comp[0] == '.')
            continue;
        if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
            if (strcmp(done, c->vroot) != 0) {
                char *slash = strrchr(done, '/');
                if (slash)
                    *slash = '\0';
            }
            continue;
        }
        if (strlen(done) + clen + 2 > MAX_PATH_LEN)
            goto out;
        char name[MAX_PATH_LEN];
        memcpy(name, comp, clen);
        name[clen] = '\0';
        char *cand = cat3(c, done, "/", name), *cp = cand ? canon(c, cand) : NULL;
        free(cand);
        if (!cp)
            goto out;
        free(disk);
        int kind = disk_of(c, cp, &disk);
        if (kind == DISK_NONE) {
            free(cp);
            goto out;
        }
        if (kind == DISK_VIRTUAL) {
            free(done);
            done = cp;
            continue;
        }
        struct stat ls;
        if (lstat(disk, &ls) != 0) {
            free(cp);
            goto out;
        }
        if (S_ISLNK(ls.st_mode) && (!last || follow_last)) {
            free(cp);
            char tgt[MAX_PATH_LEN];
            ssize_t tl = readlink(disk, tgt, sizeof tgt - 1);
            if (++links > MAX_LINKS || tl <= 0 || (size_t)tl >= sizeof tgt - 1)
                goto out;
            tgt[tl] = '\0';
            char *nrem = cat3(c, tgt, "/", rem + pos);
            if (!nrem)
                goto out;
            free(rem);
            rem = nrem;
            pos = 0;
            if (tgt[0] == '/')
                done[0] = '\0';
            continue;
        }
        if (!last && !S_ISDIR(ls.st_mode)) {
            free(cp);
            goto out;
        }
        free(done);
        done = cp;
    }
    if (!done[0]) {
        free(done);
        done = strdup("/");
        if (!done) {
            c->oom = true;
            goto out;
        }
    }
    free(disk);
    int kind = disk_of(c, done, &disk);
    if (kind == DISK_VIRTUAL) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFDIR;
    } else if (kind == DISK_NONE || lstat(disk, st) != 0) {
        goto out;
    }
    *out = done;
    done = NULL;
    rc = 0;
out:
    free(rem);
    free(done);
    free(disk);
    return rc;
}

/* Read an ELF file's dynamic information from disk. */
static int load_elf(const char *disk, bl_elfinfo *info, struct stat *st, bl_err *err)
{
    int fd = open(disk, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bl_fail(err, "%s: %s", disk, strerror(errno));
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size <= 0 ||
        (uint64_t)st->st_size > SIZE_MAX) {
        close(fd);
        return bl_fail(err, "%s: not a non-empty regular file", disk);
    }
    size_t len = (size_t)st->st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return bl_fail(err, "%s: mmap: %s", disk, strerror(errno));
    int r = bl_elf_parse(p, len, info, err);
    munmap(p, len);
    if (r < 0)
        return bl_fail_ctx(err, "%s", disk);
    return 0;
}

static void found_free(found *f)
{
    free(f->named);
    free(f->final);
    bl_elfinfo_free(&f->info);
    sl_free(&f->extras);
    memset(f, 0, sizeof *f);
}

/* Is path (absolute, possibly with "..") a usable object?  1 = yes (f filled),
 * 0 = no.  Usable: a regular file after symlinks, ELF, and (once the
 * executable is known) of its class, byte order and machine. */
static int try_file(ctx *c, const char *path, found *f, bl_err *err)
{
    memset(f, 0, sizeof *f);
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    const char *base = slash + 1;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return 0;
    char *dir = strndup(path, (size_t)(slash - path) + 1), *pdir = NULL, *disk = NULL, *lex = NULL;
    struct stat st;
    int rc = 0;
    if (!dir) {
        c->oom = true;
        return 0;
    }
    if (resolve(c, dir, true, &pdir, &st) != 0 || !S_ISDIR(st.st_mode))
        goto out;
    if (!(f->named = pjoin(c, pdir, base)))
        goto out;
    if (resolve(c, f->named, true, &f->final, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    /* Name it as the loader does (ldd prints "bin/../lib/x"): the directory
     * lexically normalised, unless a symlinked directory makes that name
     * point elsewhere; then the physical directory. */
    lex = lexnorm(c, dir);
    char *lexc = lex ? canon(c, lex) : NULL, *lexname = lexc ? pjoin(c, lexc, base) : NULL;
    free(lexc);
    char *lexfinal = NULL;
    struct stat lst;
    if (lexname && strcmp(lexname, f->named) != 0 &&
        resolve(c, lexname, true, &lexfinal, &lst) == 0 && strcmp(lexfinal, f->final) == 0) {
        free(f->named);
        f->named = lexname;
        lexname = NULL;
    }
    free(lexname);
    free(lexfinal);
    if (disk_of(c, f->final, &disk) != DISK_PATH)
        goto out;
    bl_err e;
    if (load_elf(disk, &f->info, &st, &e) < 0) {
        bl_debug("prefetch: skipping %s", e.msg);
        if (err)
            *err = e;
        goto out;
    }
    if (c->cls && (f->info.elfclass != c->cls || f->info.data != c->data ||
                   f->info.machine != c->machine)) {
        bl_debug("prefetch: skipping %s: ELF class/machine differs from the executable", disk);
        goto out;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    rc = 1;
out:
    if (rc != 1) {
        bl_err keep;
        if (err)
            keep = *err;
        found_free(f);
        if (err)
            *err = keep;
    }
    free(dir);
    free(pdir);
    free(disk);
    free(lex);
    return rc;
}

/* Look for name in one directory, as ld.so's open_path does for one entry.
 * For x86-64 set directories, glibc-hwcaps variants are tried first (as
 * ld.so does); those present are kept as extras so that any node's choice
 * is prefetched. */
static int try_dir(ctx *c, const char *dir, const char *name, found *f)
{
    static const char *const hwcaps[] = {"x86-64-v4", "x86-64-v3", "x86-64-v2"};
    char *p;
    found v, first;
    bool have_first = false;
    strlist extras = {0};
    memset(&first, 0, sizeof first);
    if (c->machine == EM_X86_64_ && set_rel(c, dir)) {
        for (size_t i = 0; i < sizeof hwcaps / sizeof hwcaps[0]; i++) {
            char sub[64];
            snprintf(sub, sizeof sub, "glibc-hwcaps/%s/", hwcaps[i]);
            char *d = pjoin(c, dir, sub);
            p = d ? cat3(c, d, "", name) : NULL;
            free(d);
            if (!p || try_file(c, p, &v, NULL) != 1) {
                free(p);
                continue;
            }
            free(p);
            sl_push(c, &extras, v.named);
            sl_push(c, &extras, v.final);
            if (!have_first) {
                first = v;
                have_first = true;
            } else {
                found_free(&v);
            }
        }
    }
    p = pjoin(c, dir, name);
    int r = p ? try_file(c, p, f, NULL) : 0;
    free(p);
    if (r != 1 && have_first) {
        *f = first;
        have_first = false;
        r = 1;
    }
    if (have_first)
        found_free(&first);
    if (r == 1) {
        f->extras = extras;
    } else {
        sl_free(&extras);
    }
    return r;
}

char *bl_elfdeps_expand(const char *entry, size_t len, const char *origin, uint16_t machine,
                        uint8_t elfclass, int *why)
{
    static const char *const names[] = {"ORIGIN", "LIB", "PLATFORM"};
    size_t room = len * 8 + MAX_PATH_LEN;
    char *out = malloc(room + 1), *o = out;
    *why = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        int which = -1;
        size_t used = 0;
        if (entry[i] == '$') {
            const char *s = entry + i + 1;
            size_t avail = len - i - 1;
            bool curly = avail > 0 && s[0] == '{';
            if (curly) {
                s++;
                avail--;
            }
            for (int k = 0; k < 3 && which < 0; k++) {
                size_t nl = strlen(names[k]);
                if (avail < nl || strncmp(s, names[k], nl) != 0)
                    continue;
                if (curly) {
                    if (avail > nl && s[nl] == '}') {
                        which = k;
                        used = 1 + 1 + nl + 1;
                    }
                } else if (avail == nl || !(s[nl] == '_' || (s[nl] >= '0' && s[nl] <= '9') ||
                                            (s[nl] >= 'a' && s[nl] <= 'z') ||
                                            (s[nl] >= 'A' && s[nl] <= 'Z'))) {
                    which = k;
                    used = 1 + nl;
                }
            }
        }
        const char *rep = NULL;
        if (which == 0) {
            rep = origin;
        } else if (which == 1) {
            if (machine == EM_X86_64_ && elfclass == 2)
                rep = "lib/x86_64-linux-gnu";
            else if (machine == EM_386_ && elfclass == 1)
                rep = "lib/i386-linux-gnu";
            else if (machine == EM_AARCH64_ && elfclass == 2)
                rep = "lib/aarch64-linux-gnu";
        }
        if (which >= 0 && !rep) {
            free(out);
            *why = which == 1 ? 'L' : 'P';
            return NULL;
        }
        const char *src = rep ? rep : entry + i;
        size_t n = rep ? strlen(rep) : 1;
        if (n > room) {
            free(out);
            *why = 'T';
            return NULL;
        }
        memcpy(o, src, n);
        o += n;
        room -= n;
        i += rep ? used : 1;
    }
    *o = '\0';
    return out;
}

/* bl_elfdeps_expand for this closure's machine, warning once per kind of
 * entry that cannot be expanded here. */
static char *expand_dst(ctx *c, const char *entry, size_t len, const char *origin, bool *skip)
{
    int why;
    char *out = bl_elfdeps_expand(entry, len, origin, c->machine, c->cls, &why);
    *skip = why != 0;
    if (!out && !why)
        c->oom = true;
    if (why == 'L' && !c->warned_lib) {
        c->warned_lib = true;
        bl_warn("prefetch: search path entries with $LIB are skipped for machine %u",
                (unsigned)c->machine);
    } else if (why == 'P' && !c->warned_platform) {
        c->warned_platform = true;
        bl_warn("prefetch: search path entries with $PLATFORM are skipped (it depends on "
                "each node's CPU)");
    }
    return out;
}

/* A search-path entry or DT_NEEDED path as an absolute node path: DSTs
 * expanded, relative ones taken from the set root. */
static char *entry_path(ctx *c, const char *entry, size_t len, const char *origin)
{
    bool skip;
    char *e = expand_dst(c, entry, len, origin, &skip);
    if (!e)
        return NULL;
    if (e[0] == '/')
        return e;
    char *p = cat3(c, c->vroot, *e ? "/" : "", e);
    free(e);
    return p;
}

/* Search a ':'-separated list (RPATH or RUNPATH of object `from`). */
static int try_list(ctx *c, const char *list, const char *origin, const char *name, found *f)
{
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ":");
        char *dir = entry_path(c, p, len, origin);
        int r = dir ? try_dir(c, dir, name, f) : 0;
        free(dir);
        if (r == 1)
            return 1;
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

static void conf_file(ctx *c, const char *file, int depth)
{
    if (depth > MAX_CONF_DEPTH)
        return;
    FILE *fp = fopen(file, "re");
    if (!fp)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0 && c->sysdirs.n < MAX_SYSDIRS) {
        line[strcspn(line, "#\n")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            s[--l] = '\0';
        if (strncmp(s, "include", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) {
            char *pat = s + 8;
            while (*pat == ' ' || *pat == '\t')
                pat++;
            char *full = NULL;
            if (pat[0] != '/') {
                char *d = strdup(file), *sl = d ? strrchr(d, '/') : NULL;
                if (sl)
                    sl[1] = '\0';
                full = d ? cat3(c, d, "", pat) : NULL;
                free(d);
            }
            glob_t g;
            if (glob(full ? full : pat, 0, NULL, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; i++)
                    conf_file(c, g.gl_pathv[i], depth + 1);
                globfree(&g);
            }
            free(full);
        } else if (s[0] == '/') {
            s[strcspn(s, "=")] = '\0';     /* old "dir=TYPE" syntax */
            char *n = lexnorm(c, s);
            if (n && !sl_has(&c->sysdirs, n))
                sl_push(c, &c->sysdirs, n);
            free(n);
        }
    }
    free(line);
    fclose(fp);
}

/* What ld.so.cache and the default directories stand for: this machine's
 * /etc/ld.so.conf directories and the multiarch/system directories. */
static void load_sysdirs(ctx *c)
{
    if (c->sysdirs_loaded)
        return;
    c->sysdirs_loaded = true;
    conf_file(c, "/etc/ld.so.conf", 0);
    const char *triple = c->machine == EM_X86_64_ ? "x86_64-linux-gnu"
                         : c->machine == EM_386_  ? "i386-linux-gnu"
                         : c->machine == EM_AARCH64_ ? "aarch64-linux-gnu" : NULL;
    const char *const bases[] = {"/lib", "/usr/lib"};
    for (size_t i = 0; i < 2; i++) {
        char *d = triple ? cat3(c, bases[i], "/", triple) : NULL;
        if (d && !sl_has(&c->sysdirs, d))
            sl_push(c, &c->sysdirs, d);
        free(d);
    }
    const char *const rest[] = {"/lib64", "/usr/lib64", "/lib32", "/usr/lib32", "/lib", "/usr/lib"};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        if (!sl_has(&c->sysdirs, rest[i]))
            sl_push(c, &c->sysdirs, rest[i]);
}

static bool has_rpath(const obj *l)
{
    /* glibc ignores DT_RPATH of an object that also has DT_RUNPATH. */
    return l->have_file && l->info.rpath && !l->info.runpath;
}

/* _dl_map_object's search for a name without '/'. */
static int search(ctx *c, long loader, const char *name, found *f)
{
    const obj *L = &c->objs[loader];
    if (!(L->have_file && L->info.runpath)) {
        bool did_main = false;
        for (long l = loader; l >= 0; l = c->objs[l].loader) {
            if (!has_rpath(&c->objs[l]))
                continue;
            if (try_list(c, c->objs[l].info.rpath, c->objs[l].origin, name, f))
                return 1;
            did_main |= l == 0;
        }
        if (!did_main && has_rpath(&c->objs[0]) &&
            try_list(c, c->objs[0].info.rpath, c->objs[0].origin, name, f))
            return 1;
    }
    for (size_t i = 0; i < c->o->nlibpath; i++) {
        const char *e = c->o->libpath[i];
        char *dir = entry_path(c, e, strlen(e), c->objs[0].origin);
        int r = dir ? try_dir(c, dir, name, f) : 0;
        free(dir);
        if (r == 1)
            return 1;
    }
    L = &c->objs[loader];
    if (L->have_file && L->info.runpath && try_list(c, L->info.runpath, L->origin, name, f))
        return 1;
    load_sysdirs(c);
    for (size_t i = 0; i < c->sysdirs.n; i++)
        if (try_dir(c, c->sysdirs.v[i], name, f))
            return 1;
    return 0;
}

static void out_push(ctx *c, const char *cp)
{
    const char *rel = cp ? set_rel(c, cp) : NULL;
    if (!rel || !*rel)
        return;
    for (size_t i = 0; i < *c->nout; i++)
        if (strcmp((*c->out)[i], rel) == 0)
            return;
    char **v = realloc(*c->out, (*c->nout + 1) * sizeof *v);
    if (!v) {
        c->oom = true;
        return;
    }
    *c->out = v;
    if (!(v[*c->nout] = strdup(rel))) {
        c->oom = true;
        return;
    }
    (*c->nout)++;
}

/* Make a new loaded object from f (which it takes over); returns its index. */
static long add_obj(ctx *c, found *f, long loader, const char *reqname, bool exe)
{
    if (c->nobjs == c->capobjs) {
        size_t cap = c->capobjs ? c->capobjs * 2 : 16;
        obj *v = realloc(c->objs, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            found_free(f);
            return -1;
        }
        c->objs = v;
        c->capobjs = cap;
    }
    obj *o = &c->objs[c->nobjs];
    memset(o, 0, sizeof *o);
    o->named = f->named;
    o->final = f->final;
    o->info = f->info;
    o->dev = f->dev;
    o->ino = f->ino;
    o->loader = loader;
    o->have_file = f->final != NULL;
    /* $ORIGIN: the executable's real path, a library's path as found. */
    const char *from = exe ? f->final : f->named;
    if (from) {
        const char *sl = strrchr(from, '/');
        o->origin = sl == from ? strdup("/") : strndup(from, (size_t)(sl - from));
    } else {
        o->origin = strdup(c->vroot);
    }
    if (!o->origin)
        c->oom = true;
    if (reqname)
        sl_push(c, &o->names, reqname);
    if (o->info.soname && !sl_has(&o->names, o->info.soname))
        sl_push(c, &o->names, o->info.soname);
    out_push(c, o->named);
    out_push(c, o->final);
    for (size_t i = 0; i < f->extras.n; i++)
        out_push(c, f->extras.v[i]);
    sl_free(&f->extras);
    memset(f, 0, sizeof *f);
    return (long)c->nobjs++;
}

/* -- hints: a library the set has, found elsewhere -- */

static void walk_set(ctx *c, const char *disk, const char *rel, int depth)
{
    DIR *d = depth <= 32 && c->setfiles.n < 200000 ? opendir(disk) : NULL;
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) && !c->oom) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *dp = pjoin(c, disk, de->d_name);
        char *rp = rel[0] ? pjoin(c, rel, de->d_name) : strdup(de->d_name);
        struct stat st;
        if (dp && rp && lstat(dp, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                walk_set(c, dp, rp, depth + 1);
            else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
                sl_push(c, &c->setfiles, rp);
        }
        free(dp);
        free(rp);
    }
    closedir(d);
}

/* A file of the set named base (the last component), or NULL. */
static const char *set_file_named(ctx *c, const char *base)
{
    if (!c->setfiles_loaded) {
        c->setfiles_loaded = true;
        for (size_t i = 0; i < c->nroots; i++)
            walk_set(c, c->roots[i].abs, c->roots[i].prefix, 0);
    }
    for (size_t i = 0; i < c->setfiles.n; i++) {
        const char *s = strrchr(c->setfiles.v[i], '/');
        if (!strcmp(s ? s + 1 : c->setfiles.v[i], base))
            return c->setfiles.v[i];
    }
    return NULL;
}

static long match_loaded(const ctx *c, const char *name)
{
    for (size_t i = 0; i < c->nobjs; i++)
        if (sl_has(&c->objs[i].names, name))
            return (long)i;
    return -1;
}

static long match_file(const ctx *c, const found *f)
{
    for (size_t i = 0; i < c->nobjs; i++)
        if (c->objs[i].have_file && c->objs[i].dev == f->dev && c->objs[i].ino == f->ino)
            return (long)i;
    return -1;
}

static const char *shown(const ctx *c, const char *cp)
{
    const char *rel = set_rel(c, cp);
    return rel ? rel : cp;
}

/* One DT_NEEDED entry of object `from`, as _dl_map_object handles it. */
static void need(ctx *c, long from, const char *name)
{
    if (match_loaded(c, name) >= 0)
        return;
    found f;
    int r;
    if (strchr(name, '/')) {
        char *p = entry_path(c, name, strlen(name), c->objs[from].origin);
        r = p ? try_file(c, p, &f, NULL) : 0;
        free(p);
    } else {
        r = search(c, from, name, &f);
    }
    if (r != 1) {
        char safe[256];
        bl_warn("prefetch: %s (needed by %s) is found neither in the set nor on this machine",
                bl_log_safe(safe, sizeof safe, name, strlen(name)), shown(c, c->objs[from].named));
        return;
    }
    if (!strchr(name, '/') && f.named && !set_rel(c, f.named)) {
        const char *in = set_file_named(c, name);
        if (in) {
            char safe[256];
            bl_warn("prefetch: %s (needed by %s) resolves to %s on this machine, not to the "
                    "set's %s, so it is not prefetched: nothing on the loader's path (RUNPATH, "
                    "RPATH) leads into the set; give --library-path with its directory (or link "
                    "the program with -Wl,-rpath,'$ORIGIN/...')",
                    bl_log_safe(safe, sizeof safe, name, strlen(name)),
                    shown(c, c->objs[from].named), f.named, in);
        }
    }
    long same = match_file(c, &f);
    if (same >= 0) {
        /* The same file under another name: one object, but the loader
         * opened this name too, so it is listed. */
        sl_push(c, &c->objs[same].names, name);
        out_push(c, f.named);
        found_free(&f);
        return;
    }
    add_obj(c, &f, from, name, false);
}

/* The interpreter is loaded by the kernel before anything else; libc's
 * DT_NEEDED on it is matched by its name and SONAME. */
static void add_interp(ctx *c, const char *interp)
{
    found f;
    char *p = entry_path(c, interp, strlen(interp), c->objs[0].origin);
    long i;
    if (p && try_file(c, p, &f, NULL) == 1) {
        i = add_obj(c, &f, -1, interp, false);
    } else {
        memset(&f, 0, sizeof f);
        i = add_obj(c, &f, -1, interp, false);
        const char *base = strrchr(interp, '/');
        if (i >= 0)
            sl_push(c, &c->objs[i].names, base ? base + 1 : interp);
    }
    free(p);
    /* Its own DT_NEEDED (none for ld.so) are not ours to walk. */
    if (i >= 0 && c->objs[i].have_file) {
        for (size_t k = 0; k < c->objs[i].info.nneeded; k++)
            free(c->objs[i].info.needed[k]);
        c->objs[i].info.nneeded = 0;
    }
}

static int setup(ctx *c, const bl_elfdeps_opts *o, bl_err *err)
{
    c->o = o;
    if (o->mount && o->mount[0]) {
        if (o->mount[0] != '/')
            return bl_fail(err, "mount point %s is not an absolute path", o->mount);
        c->vroot = lexnorm(c, o->mount);
    } else {
        c->vroot = strdup("/\001bitlib-set-root");
    }
    if (!c->vroot)
        return bl_fail(err, "out of memory");
    if (o->nroots == 0)
        return bl_fail(err, "the set has no directories");
    c->roots = calloc(o->nroots, sizeof *c->roots);
    if (!c->roots)
        return bl_fail(err, "out of memory");
    c->nroots = o->nroots;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return bl_fail(err, "getcwd: %s", strerror(errno));
    for (size_t i = 0; i < o->nroots; i++) {
        droot *r = &c->roots[i];
        const char *p = o->roots[i].set_prefix ? o->roots[i].set_prefix : "";
        while (*p == '/')
            p++;
        r->prefix = strdup(p);
        if (r->prefix) {
            size_t l = strlen(r->prefix);
            while (l && r->prefix[l - 1] == '/')
                r->prefix[--l] = '\0';
        }
        r->disk = strdup(o->roots[i].disk_root);
        char *a = o->roots[i].disk_root[0] == '/' ? strdup(o->roots[i].disk_root)
                                                   : cat3(c, cwd, "/", o->roots[i].disk_root);
        r->abs = a ? lexnorm(c, a) : NULL;
        free(a);
        r->real = realpath(o->roots[i].disk_root, NULL);
        if (!r->prefix || !r->disk || !r->abs)
            return bl_fail(err, "out of memory");
    }
    return 0;
}

static void teardown(ctx *c)
{
    for (size_t i = 0; i < c->nobjs; i++) {
        obj *o = &c->objs[i];
        free(o->named);
        free(o->final);
        free(o->origin);
        sl_free(&o->names);
        bl_elfinfo_free(&o->info);
    }
    free(c->objs);
    for (size_t i = 0; i < c->nroots; i++) {
        free(c->roots[i].prefix);
        free(c->roots[i].disk);
        free(c->roots[i].abs);
        free(c->roots[i].real);
    }
    free(c->roots);
    sl_free(&c->sysdirs);
    sl_free(&c->setfiles);
    free(c->vroot);
}

int bl_elfdeps_closure(const bl_elfdeps_opts *o, const char *exe_disk_path, char ***paths,
                       size_t *n, bl_err *err)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.out = paths;
    c.nout = n;
    int rc = -1;
    if (setup(&c, o, err) < 0)
        goto out;

    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        bl_fail(err, "getcwd: %s", strerror(errno));
        goto out;
    }
    char *a = exe_disk_path[0] == '/' ? strdup(exe_disk_path) : cat3(&c, cwd, "/", exe_disk_path);
    char *na = a ? lexnorm(&c, a) : NULL;
    char *ca = na ? canon(&c, na) : NULL;
    free(a);
    free(na);
    if (!ca) {
        bl_fail(err, "out of memory");
        goto out;
    }
    found f;
    bl_err e = {{0}, 0};
    int r = try_file(&c, ca, &f, &e);
    free(ca);
    if (r != 1) {
        if (e.msg[0])
            bl_fail(err, "%s", e.msg);
        else
            bl_fail(err, "%s: not found or not a regular file", exe_disk_path);
        goto out;
    }
    c.cls = f.info.elfclass;
    c.data = f.info.data;
    c.machine = f.info.machine;
    if (add_obj(&c, &f, -1, NULL, true) != 0)
        goto oom;
    if (c.objs[0].info.interp) {
        char *interp = strdup(c.objs[0].info.interp);
        if (!interp)
            goto oom;
        add_interp(&c, interp);
        free(interp);
    }
    size_t listed_before = *n;
    /* Breadth-first, as _dl_map_object_deps. */
    for (size_t i = 0; i < c.nobjs && !c.oom; i++) {
        for (size_t k = 0; k < c.objs[i].info.nneeded && !c.oom; k++) {
            char *name = strdup(c.objs[i].info.needed[k]);   /* objs may move */
            if (!name)
                goto oom;
            need(&c, (long)i, name);
            free(name);
        }
    }
    if (c.oom)
        goto oom;
    if (*n == listed_before && c.objs[0].named && !set_rel(&c, c.objs[0].named))
        bl_warn("prefetch: %s is outside the set and loads nothing from it: nothing to prefetch "
                "for it (name the program inside the set, or give --library-path)",
                exe_disk_path);
    rc = 0;
    goto out;
oom:
    bl_fail(err, "out of memory while following %s", exe_disk_path);
out:
    teardown(&c);
    return rc;
}

void bl_elfdeps_free_list(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}
