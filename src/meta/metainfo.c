/* Description-file parser (contract in metainfo.h).
 *
 * Everything in a .torrent comes from outside, so every field is checked
 * before anything else relies on it: types, ranges, path components, and
 * the piece count against the total length.  Errors name the field. */
#include "meta/metainfo.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bencode.h"

#define MAX_TORRENT_BYTES (64u << 20)
#define MAX_FILES 4000000u
#define MAX_PATH_DEPTH 64
#define MAX_PATH_BYTES 4096
#define MAX_TIERS 64
#define MAX_TRACKERS_PER_TIER 64
#define MAX_PIECE_LENGTH (1u << 30)

bool bl_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* A path component of a set: non-empty, not "." or "..", no '/' or NUL,
 * valid UTF-8.  Shared with the builder through bl_metainfo_component_ok. */
static bool component_ok(const uint8_t *s, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    if (memchr(s, '/', n) || memchr(s, '\0', n))
        return false;
    return bl_utf8_valid((const char *)s, n);
}

/* Validate a '/'-joined relative path ("" allowed only if allow_root). */
static bool relpath_ok(const char *p, bool allow_root)
{
    size_t n = strlen(p);
    if (n == 0)
        return allow_root;
    if (n > MAX_PATH_BYTES)
        return false;
    const char *c = p;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (!component_ok((const uint8_t *)c, len))
            return false;
        if (!slash)
            return true;
        c = slash + 1;
    }
}

static char *dup_str(const bl_bnode *n)
{
    char *s = malloc(n->slen + 1);
    if (s) {
        memcpy(s, n->str, n->slen);
        s[n->slen] = '\0';
    }
    return s;
}

static bool is_dots(const uint8_t *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Join a list of path components with '/', validating each ("." and ".."
 * only with dots: a symlink target, resolved by resolve_symlinks). */
static int join_path(const bl_bdoc *d, const bl_bnode *list, char **out, const char *what,
                     bool dots, bl_err *err)
{
    if (!list || list->type != BL_BLIST || list->count == 0)
        return bl_fail(err, "%s: must be a non-empty list of strings", what);
    if (list->count > MAX_PATH_DEPTH)
        return bl_fail(err, "%s: more than %d components", what, MAX_PATH_DEPTH);
    bl_buf b;
    bl_buf_init(&b);
    for (const bl_bnode *c = bl_bfirst(d, list); c; c = bl_bnext(d, list, c)) {
        if (c->type != BL_BSTR ||
            !(component_ok(c->str, c->slen) || (dots && is_dots(c->str, c->slen)))) {
            bl_buf_free(&b);
            return bl_fail(err, "%s: invalid path component (empty, '.', '..', '/', NUL or "
                                "not UTF-8)", what);
        }
        if (b.len)
            bl_buf_putc(&b, '/');
        bl_buf_put(&b, c->str, c->slen);
    }
    if (b.oom || b.len > MAX_PATH_BYTES) {
        bl_buf_free(&b);
        return bl_fail(err, "%s: path too long", what);
    }
    *out = (char *)bl_buf_steal(&b, NULL);
    return 0;
}

static unsigned parse_attr(const bl_bnode *a)
{
    unsigned attr = 0;
    if (!a || a->type != BL_BSTR)
        return 0;
    for (size_t i = 0; i < a->slen; i++) {
        switch (a->str[i]) {
        case 'p': attr |= BL_ATTR_PAD; break;
        case 'x': attr |= BL_ATTR_EXEC; break;
        case 'l': attr |= BL_ATTR_SYMLINK; break;
        case 'h': attr |= BL_ATTR_HIDDEN; break;
        default: break; /* BEP 47: unknown letters are ignored */
        }
    }
    return attr;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const bl_mentry *)a)->path, ((const bl_mentry *)b)->path);
}

static int add_entry(bl_metainfo *mi, size_t *cap, const char *path, uint32_t mode,
                     int64_t mtime, bl_err *err)
{
    if (mi->num_entries == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        bl_mentry *ne = realloc(mi->entries, ncap * sizeof *ne);
        if (!ne)
            return bl_fail(err, "out of memory");
        mi->entries = ne;
        *cap = ncap;
    }
    bl_mentry *e = &mi->entries[mi->num_entries];
    memset(e, 0, sizeof *e);
    e->path = strdup(path);
    if (!e->path)
        return bl_fail(err, "out of memory");
    e->mode = mode;
    e->mtime = mtime;
    e->file = -1;
    mi->num_entries++;
    return 0;
}

/* dir + "/" + rel with "." and ".." applied; NULL if it climbs above the
 * set's root or names the root itself.  dir may be "" (the root). */
static char *normalize_under(const char *dir, size_t dir_len, const char *rel)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_put(&b, dir, dir_len);
    for (const char *c = rel; *c;) {
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (b.len == 0) {
                bl_buf_free(&b);
                return NULL;
            }
            char *up = memrchr(b.data, '/', b.len);
            b.len = up ? (size_t)(up - (char *)b.data) : 0;
        } else if (!(n == 1 && c[0] == '.')) {
            if (b.len)
                bl_buf_putc(&b, '/');
            bl_buf_put(&b, c, n);
        }
        c += n + (slash != NULL);
    }
    if (b.oom || b.len == 0) {
        bl_buf_free(&b);
        return NULL;
    }
    bl_buf_putc(&b, '\0'); /* terminate the shortened string */
    return (char *)bl_buf_steal(&b, NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is p a file of the set, or a directory holding one?  paths: sorted. */
static bool in_set(char *const *paths, size_t n, const char *p)
{
    size_t lo = 0, hi = n, len = strlen(p);
    while (lo < hi) { /* first path >= p */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(paths[mid], p) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* p itself, or p/... -- which sort right after p and its other extensions */
    for (size_t i = lo; i < n && strncmp(paths[i], p, len) == 0; i++)
        if (paths[i][len] == '\0' || paths[i][len] == '/')
            return true;
    return false;
}

/* BEP 47 says a "symlink path" is relative to the torrent's root; libtorrent
 * (create_torrent, up to 2.0 at least) writes the link's own text, relative
 * to the link's directory ("../lib/libz.so.1"), and reads both.  Each target
 * is read both ways: the one that names a file or directory of the set wins,
 * the root-relative one (the BEP) when both or neither do.  A target that
 * climbs out of the set both ways is refused. */
static int resolve_symlinks(bl_metainfo *mi, bl_err *err)
{
    char **paths = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < mi->num_files && rc == 0; i++) {
        bl_mfile *f = &mi->files[i];
        if (!(f->attr & BL_ATTR_SYMLINK) || !f->symlink_path)
            continue;
        if (!paths) {
            paths = malloc(mi->num_files * sizeof *paths);
            if (!paths)
                return bl_fail(err, "out of memory");
            for (size_t k = 0; k < mi->num_files; k++)
                if (!(mi->files[k].attr & BL_ATTR_PAD))
                    paths[n++] = mi->files[k].path;
            qsort(paths, n, sizeof *paths, cmp_str);
        }
        const char *slash = strrchr(f->path, '/');
        char *from_root = normalize_under("", 0, f->symlink_path);
        char *from_link = normalize_under(f->path, slash ? (size_t)(slash - f->path) : 0,
                                          f->symlink_path);
        char *pick = from_root;
        if (!(from_root && in_set(paths, n, from_root)) && from_link &&
            (in_set(paths, n, from_link) || !from_root))
            pick = from_link;
        if (!pick) {
            rc = bl_fail(err, "symlink '%s': target '%s' leaves the set", f->path,
                         f->symlink_path);
        } else {
            free(f->symlink_path);
            f->symlink_path = pick;
        }
        if (pick != from_root)
            free(from_root);
        if (pick != from_link)
            free(from_link);
    }
    free(paths);
    return rc;
}

/* The shortest relative symlink text that points from the directory of
 * `link` to `target` (both set-relative): up to their common directory,
 * then down ("libz.so.1" beside the link, "../lib/libz.so.1" from bin/). */
static char *relative_link(const char *link, const char *target)
{
    /* common leading directories, never the target's last component */
    size_t common = 0;
    for (size_t i = 0; link[i] && link[i] == target[i]; i++)
        if (link[i] == '/')
            common = i + 1;
    bl_buf b;
    bl_buf_init(&b);
    for (const char *p = link + common; (p = strchr(p, '/')); p++)
        bl_buf_puts(&b, "../");
    bl_buf_puts(&b, target + common);
    return (char *)bl_buf_steal(&b, NULL);
}

/* Entries for a torrent without info.bitlib: parents as 0555 directories,
 * files 0444 (0555 executable), BEP 47 symlinks as symlinks. */
static int derive_entries(bl_metainfo *mi, size_t *cap, bl_err *err)
{
    int64_t t = mi->creation_date;
    if (add_entry(mi, cap, "", S_IFDIR | 0555, t, err) < 0)
        return -1;
    for (size_t i = 0; i < mi->num_files; i++) {
        bl_mfile *f = &mi->files[i];
        if (f->attr & BL_ATTR_PAD)
            continue;
        /* every parent directory */
        char *p = f->path;
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            bool seen = false;
            /* directories are few; a linear scan from the end is enough here */
            for (size_t k = mi->num_entries; k-- > 0;)
                if (!strcmp(mi->entries[k].path, p)) {
                    seen = true;
                    break;
                }
            int rc = seen ? 0 : add_entry(mi, cap, p, S_IFDIR | 0555, t, err);
            *s = '/';
            if (rc < 0)
                return -1;
        }
        if (f->attr & BL_ATTR_SYMLINK) {
            if (add_entry(mi, cap, f->path, S_IFLNK | 0777, t, err) < 0)
                return -1;
            bl_mentry *e = &mi->entries[mi->num_entries - 1];
            e->target = f->symlink_path ? relative_link(f->path, f->symlink_path) : strdup("");
            if (!e->target)
                return bl_fail(err, "out of memory");
            e->size = strlen(e->target);
        } else {
            uint32_t mode = S_IFREG | ((f->attr & BL_ATTR_EXEC) ? 0555 : 0444);
            if (add_entry(mi, cap, f->path, mode, t, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int parse_bitlib_entries(bl_metainfo *mi, const bl_bdoc *d, const bl_bnode *bl,
                                size_t *cap, bl_err *err)
{
    const bl_bnode *v = bl_bdict_get_type(d, bl, "version", BL_BINT);
    if (!v || v->ival != 1)
        return bl_fail(err, "info.bitlib.version: unsupported (this bitlib reads version 1)");
    const bl_bnode *list = bl_bdict_get_type(d, bl, "entries", BL_BLIST);
    if (!list)
        return bl_fail(err, "info.bitlib.entries: missing or not a list");
    if (list->count > MAX_FILES)
        return bl_fail(err, "info.bitlib.entries: too many entries");
    size_t idx = 0;
    for (const bl_bnode *e = bl_bfirst(d, list); e; e = bl_bnext(d, list, e), idx++) {
        const bl_bnode *path = bl_bdict_get_type(d, e, "path", BL_BSTR);
        const bl_bnode *mode = bl_bdict_get_type(d, e, "mode", BL_BINT);
        const bl_bnode *mtime = bl_bdict_get_type(d, e, "mtime", BL_BINT);
        if (!path || !mode || !mtime)
            return bl_fail(err, "info.bitlib.entries[%zu]: needs path, mode and mtime", idx);
        char *p = dup_str(path);
        if (!p)
            return bl_fail(err, "out of memory");
        bool ok = strlen(p) == path->slen && relpath_ok(p, true);
        if (!ok) {
            free(p);
            return bl_fail(err, "info.bitlib.entries[%zu]: invalid path", idx);
        }
        int64_t m = mode->ival;
        uint32_t type = (uint32_t)m & S_IFMT;
        if (m < 0 || m > 0xffff || (m & ~(int64_t)(S_IFMT | 07777)) ||
            (type != S_IFDIR && type != S_IFREG && type != S_IFLNK)) {
            free(p);
            return bl_fail(err, "info.bitlib.entries[%zu]: invalid mode %lld", idx, (long long)m);
        }
        int rc = add_entry(mi, cap, p, (uint32_t)m, mtime->ival, err);
        free(p);
        if (rc < 0)
            return -1;
        bl_mentry *ent = &mi->entries[mi->num_entries - 1];
        if (type == S_IFLNK) {
            const bl_bnode *tg = bl_bdict_get_type(d, e, "target", BL_BSTR);
            if (!tg || tg->slen == 0 || tg->slen > MAX_PATH_BYTES || memchr(tg->str, 0, tg->slen))
                return bl_fail(err, "info.bitlib.entries[%zu]: symlink needs a target", idx);
            if (!(ent->target = dup_str(tg)))
                return bl_fail(err, "out of memory");
            ent->size = tg->slen;
        }
    }
    return 0;
}

/* Join entries with the byte layout and check the tree is consistent. */
static int link_entries(bl_metainfo *mi, bl_err *err)
{
    if (mi->num_entries > 1)
        qsort(mi->entries, mi->num_entries, sizeof *mi->entries, cmp_entry);
    if (mi->num_entries == 0 || mi->entries[0].path[0] != '\0' ||
        !S_ISDIR(mi->entries[0].mode))
        return bl_fail(err, "description has no root directory entry");
    for (size_t i = 1; i < mi->num_entries; i++) {
        bl_mentry *e = &mi->entries[i];
        if (!strcmp(e->path, mi->entries[i - 1].path))
            return bl_fail(err, "duplicate path '%s'", e->path);
        const char *slash = strrchr(e->path, '/');
        const bl_mentry *parent = &mi->entries[0];
        if (slash) {
            /* a copy: the search must not see a modified key */
            char *dir = strndup(e->path, (size_t)(slash - e->path));
            if (!dir)
                return bl_fail(err, "out of memory");
            parent = bl_metainfo_lookup(mi, dir);
            free(dir);
        }
        if (!parent || !S_ISDIR(parent->mode))
            return bl_fail(err, "'%s' has no parent directory in the description", e->path);
    }
    for (size_t i = 0; i < mi->num_files; i++) {
        bl_mfile *f = &mi->files[i];
        if (f->attr & BL_ATTR_PAD)
            continue;
        const bl_mentry *e = bl_metainfo_lookup(mi, f->path);
        if (!e)
            return bl_fail(err, "file '%s' has no file-system entry", f->path);
        if (f->attr & BL_ATTR_SYMLINK) {
            if (!S_ISLNK(e->mode))
                return bl_fail(err, "'%s' is a symlink in info.files but not in info.bitlib",
                               f->path);
            if (f->length)
                return bl_fail(err, "symlink '%s' has a non-zero length", f->path);
        } else {
            if (!S_ISREG(e->mode))
                return bl_fail(err, "'%s' holds data but is not a regular file", f->path);
            if (e->file >= 0)
                return bl_fail(err, "file '%s' listed twice", f->path);
            bl_mentry *me = &mi->entries[e - mi->entries];
            me->file = (int)i;
            me->size = f->length;
        }
        f->entry = (int)(e - mi->entries);
    }
    for (size_t i = 0; i < mi->num_entries; i++)
        if (S_ISREG(mi->entries[i].mode) && mi->entries[i].file < 0)
            return bl_fail(err, "'%s' is a file with no data in info.files", mi->entries[i].path);
    return 0;
}

static int parse_files(bl_metainfo *mi, const bl_bdoc *d, const bl_bnode *info, bl_err *err)
{
    const bl_bnode *length = bl_bdict_get(d, info, "length");
    const bl_bnode *files = bl_bdict_get(d, info, "files");
    if ((length != NULL) == (files != NULL))
        return bl_fail(err, "info: needs exactly one of 'length' (single file) or 'files'");
    if (length) {
        if (length->type != BL_BINT || length->ival < 0)
            return bl_fail(err, "info.length: must be a non-negative integer");
        mi->single_file = true;
        mi->files = calloc(1, sizeof *mi->files);
        if (!mi->files || !(mi->files[0].path = strdup(mi->name)))
            return bl_fail(err, "out of memory");
        mi->num_files = 1;
        mi->files[0].length = (uint64_t)length->ival;
        mi->files[0].entry = -1;
        mi->files[0].attr = parse_attr(bl_bdict_get(d, info, "attr")) & ~BL_ATTR_PAD;
        mi->total_length = mi->files[0].length;
        return 0;
    }
    if (files->type != BL_BLIST || files->count == 0)
        return bl_fail(err, "info.files: must be a non-empty list");
    if (files->count > MAX_FILES)
        return bl_fail(err, "info.files: more than %u files", MAX_FILES);
    mi->files = calloc(files->count, sizeof *mi->files);
    if (!mi->files)
        return bl_fail(err, "out of memory");
    uint64_t off = 0;
    size_t i = 0;
    for (const bl_bnode *f = bl_bfirst(d, files); f; f = bl_bnext(d, files, f), i++) {
        bl_mfile *mf = &mi->files[i];
        mi->num_files = i + 1;
        mf->entry = -1;
        if (f->type != BL_BDICT)
            return bl_fail(err, "info.files[%zu]: not a dictionary", i);
        const bl_bnode *len = bl_bdict_get_type(d, f, "length", BL_BINT);
        if (!len || len->ival < 0)
            return bl_fail(err, "info.files[%zu].length: missing or negative", i);
        char what[64];
        snprintf(what, sizeof what, "info.files[%zu].path", i);
        if (join_path(d, bl_bdict_get(d, f, "path"), &mf->path, what, false, err) < 0)
            return -1;
        mf->attr = parse_attr(bl_bdict_get(d, f, "attr"));
        mf->length = (uint64_t)len->ival;
        mf->offset = off;
        if (mf->length > UINT64_MAX / 2 - off)
            return bl_fail(err, "info.files: total length overflows");
        off += mf->length;
        const bl_bnode *sp = bl_bdict_get(d, f, "symlink path");
        if ((mf->attr & BL_ATTR_SYMLINK) && sp) {
            snprintf(what, sizeof what, "info.files[%zu].symlink path", i);
            if (join_path(d, sp, &mf->symlink_path, what, true, err) < 0)
                return -1;
        }
    }
    mi->total_length = off;
    return 0;
}

static int parse_trackers(bl_metainfo *mi, const bl_bdoc *d, const bl_bnode *root, bl_err *err)
{
    const bl_bnode *al = bl_bdict_get(d, root, "announce-list");
    const bl_bnode *a = bl_bdict_get(d, root, "announce");
    if (a && a->type != BL_BSTR)
        return bl_fail(err, "announce: not a string");
    if (al && al->type == BL_BLIST && al->count > 0) {
        if (al->count > MAX_TIERS)
            return bl_fail(err, "announce-list: more than %d tiers", MAX_TIERS);
        mi->tiers = calloc(al->count, sizeof *mi->tiers);
        if (!mi->tiers)
            return bl_fail(err, "out of memory");
        for (const bl_bnode *t = bl_bfirst(d, al); t; t = bl_bnext(d, al, t)) {
            if (t->type != BL_BLIST || t->count > MAX_TRACKERS_PER_TIER)
                return bl_fail(err, "announce-list: each tier must be a list of URLs");
            char **tier = calloc(t->count + 1, sizeof *tier);
            if (!tier)
                return bl_fail(err, "out of memory");
            mi->tiers[mi->num_tiers++] = tier;
            size_t k = 0;
            for (const bl_bnode *u = bl_bfirst(d, t); u; u = bl_bnext(d, t, u)) {
                if (u->type != BL_BSTR || u->slen == 0 || u->slen > 2048 ||
                    memchr(u->str, 0, u->slen))
                    return bl_fail(err, "announce-list: a tracker URL is not a valid string");
                if (!(tier[k++] = dup_str(u)))
                    return bl_fail(err, "out of memory");
            }
        }
    } else if (a && a->slen > 0) {
        if (a->slen > 2048 || memchr(a->str, 0, a->slen))
            return bl_fail(err, "announce: invalid URL");
        mi->tiers = calloc(1, sizeof *mi->tiers);
        char **tier = calloc(2, sizeof *tier);
        if (!mi->tiers || !tier || !(tier[0] = dup_str(a))) {
            free(tier);
            return bl_fail(err, "out of memory");
        }
        mi->tiers[0] = tier;
        mi->num_tiers = 1;
    }
    return 0;
}

static int parse_env(bl_metainfo *mi, const bl_bdoc *d, const bl_bnode *bl, bl_err *err);

static int parse_job_meta(bl_metainfo *mi, const bl_bdoc *d, const bl_bnode *root, bl_err *err)
{
    const bl_bnode *bl = bl_bdict_get(d, root, "bitlib");
    if (!bl)
        return 0;
    if (bl->type != BL_BDICT)
        return bl_fail(err, "bitlib: not a dictionary");
    const bl_bnode *m = bl_bdict_get(d, bl, "mount");
    if (m) {
        if (m->type != BL_BSTR || m->slen == 0 || m->slen > MAX_PATH_BYTES ||
            memchr(m->str, 0, m->slen) || m->str[0] != '/')
            return bl_fail(err, "bitlib.mount: must be an absolute path");
        if (!(mi->mount = dup_str(m)))
            return bl_fail(err, "out of memory");
    }
    const bl_bnode *pf = bl_bdict_get(d, bl, "prefetch");
    if (pf) {
        if (pf->type != BL_BLIST || pf->count > MAX_FILES)
            return bl_fail(err, "bitlib.prefetch: not a list of paths");
        mi->prefetch = calloc(pf->count + 1, sizeof *mi->prefetch);
        if (!mi->prefetch)
            return bl_fail(err, "out of memory");
        for (const bl_bnode *p = bl_bfirst(d, pf); p; p = bl_bnext(d, pf, p)) {
            char *s = p->type == BL_BSTR ? dup_str(p) : NULL;
            if (!s || strlen(s) != p->slen || !relpath_ok(s, false)) {
                free(s);
                return bl_fail(err, "bitlib.prefetch[%zu]: invalid path", mi->num_prefetch);
            }
            mi->prefetch[mi->num_prefetch++] = s;
        }
    }
    return parse_env(mi, d, bl, err);
}

bool bl_env_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* bitlib.env: {NAME: [dir ...]}; every dir must be a directory of the set
 * (checked once the entries are known, in check_env). */
static int parse_env(bl_metainfo *mi, const bl_bdoc *d, const bl_bnode *bl, bl_err *err)
{
    const bl_bnode *env = bl_bdict_get(d, bl, "env");
    if (!env)
        return 0;
    if (env->type != BL_BDICT || env->count > BL_ENV_MAX)
        return bl_fail(err, "bitlib.env: not a dictionary of at most %d variables", BL_ENV_MAX);
    mi->env = calloc(env->count + 1, sizeof *mi->env);
    if (!mi->env)
        return bl_fail(err, "out of memory");
    for (const bl_bnode *k = bl_bfirst(d, env); k; k = bl_bnext(d, env, k)) {
        const bl_bnode *v = bl_bnext(d, env, k);
        bl_menv *e = &mi->env[mi->num_env];
        e->name = dup_str(k);
        if (!e->name || strlen(e->name) != k->slen || !bl_env_name_ok(e->name))
            return bl_fail(err, "bitlib.env: invalid variable name");
        mi->num_env++;
        if (!v || v->type != BL_BLIST || v->count > BL_ENV_MAX)
            return bl_fail(err, "bitlib.env.%s: not a list of at most %d directories", e->name,
                           BL_ENV_MAX);
        e->dirs = calloc(v->count + 1, sizeof *e->dirs);
        if (!e->dirs)
            return bl_fail(err, "out of memory");
        for (const bl_bnode *p = bl_bfirst(d, v); p; p = bl_bnext(d, v, p)) {
            char *s = p->type == BL_BSTR ? dup_str(p) : NULL;
            if (!s || strlen(s) != p->slen || !relpath_ok(s, true)) {
                free(s);
                return bl_fail(err, "bitlib.env.%s[%zu]: invalid path", e->name, e->num_dirs);
            }
            e->dirs[e->num_dirs++] = s;
        }
        k = v;
    }
    return 0;
}

static int check_env(const bl_metainfo *mi, bl_err *err)
{
    for (size_t i = 0; i < mi->num_env; i++)
        for (size_t j = 0; j < mi->env[i].num_dirs; j++) {
            const bl_mentry *e = bl_metainfo_lookup(mi, mi->env[i].dirs[j]);
            if (!e || !S_ISDIR(e->mode))
                return bl_fail(err, "bitlib.env.%s: '%s' is not a directory of the set",
                               mi->env[i].name, mi->env[i].dirs[j]);
        }
    return 0;
}

static int opt_string(const bl_bdoc *d, const bl_bnode *root, const char *key, char **out)
{
    const bl_bnode *n = bl_bdict_get_type(d, root, key, BL_BSTR);
    if (n && n->slen <= 65536 && !memchr(n->str, 0, n->slen)) {
        if (!(*out = dup_str(n)))
            return -1;
    }
    return 0;
}

static int parse_doc(bl_metainfo *mi, const bl_bdoc *d, bl_err *err)
{
    const bl_bnode *root = bl_broot(d);
    if (!root || root->type != BL_BDICT)
        return bl_fail(err, "not a torrent: top level is not a dictionary");
    const bl_bnode *info = bl_bdict_get(d, root, "info");
    if (!info || info->type != BL_BDICT)
        return bl_fail(err, "not a torrent: no 'info' dictionary");
    mi->info_off = info->off;
    mi->info_len = info->len;
    bl_sha1(mi->raw + info->off, info->len, mi->info_hash);

    const bl_bnode *name = bl_bdict_get_type(d, info, "name", BL_BSTR);
    if (!name || !component_ok(name->str, name->slen))
        return bl_fail(err, "info.name: missing, empty, or not a valid file name");
    if (!(mi->name = dup_str(name)))
        return bl_fail(err, "out of memory");

    const bl_bnode *pl = bl_bdict_get_type(d, info, "piece length", BL_BINT);
    if (!pl || pl->ival <= 0 || pl->ival > MAX_PIECE_LENGTH)
        return bl_fail(err, "info.piece length: missing or out of range (1 .. 1 GiB)");
    mi->piece_length = (uint64_t)pl->ival;

    const bl_bnode *pieces = bl_bdict_get_type(d, info, "pieces", BL_BSTR);
    if (!pieces || pieces->slen % BL_SHA1_LEN)
        return bl_fail(err, "info.pieces: missing or not a multiple of 20 bytes");

    const bl_bnode *priv = bl_bdict_get(d, info, "private");
    if (priv && (priv->type != BL_BINT || priv->ival < 0 || priv->ival > 1))
        return bl_fail(err, "info.private: must be 0 or 1");
    mi->is_private = priv && priv->ival == 1;

    const bl_bnode *cd = bl_bdict_get_type(d, root, "creation date", BL_BINT);
    mi->creation_date = cd ? cd->ival : 0;

    if (parse_files(mi, d, info, err) < 0 || resolve_symlinks(mi, err) < 0)
        return -1;
    uint64_t expect = (mi->total_length + mi->piece_length - 1) / mi->piece_length;
    if (expect > UINT32_MAX || pieces->slen / BL_SHA1_LEN != expect)
        return bl_fail(err, "info.pieces: %zu hashes for %llu bytes in pieces of %llu "
                            "(expected %llu)", pieces->slen / BL_SHA1_LEN,
                       (unsigned long long)mi->total_length,
                       (unsigned long long)mi->piece_length, (unsigned long long)expect);
    mi->num_pieces = (uint32_t)expect;
    mi->piece_hashes = pieces->str;

    size_t cap = 0;
    const bl_bnode *blm = bl_bdict_get(d, info, "bitlib");
    if (blm && !mi->single_file) {
        if (blm->type != BL_BDICT)
            return bl_fail(err, "info.bitlib: not a dictionary");
        mi->has_bitlib_meta = true;
        if (parse_bitlib_entries(mi, d, blm, &cap, err) < 0)
            return -1;
    } else if (derive_entries(mi, &cap, err) < 0) {
        return -1;
    }
    if (link_entries(mi, err) < 0)
        return -1;
    if (parse_trackers(mi, d, root, err) < 0 || parse_job_meta(mi, d, root, err) < 0)
        return -1;
    for (size_t i = 0; i < mi->num_prefetch; i++)
        if (!bl_metainfo_lookup(mi, mi->prefetch[i]))
            return bl_fail(err, "bitlib.prefetch: '%s' is not in the set", mi->prefetch[i]);
    if (check_env(mi, err) < 0)
        return -1;
    if (opt_string(d, root, "comment", &mi->comment) < 0 ||
        opt_string(d, root, "created by", &mi->created_by) < 0)
        return bl_fail(err, "out of memory");
    return 0;
}

int bl_metainfo_parse(bl_metainfo *mi, uint8_t *raw, size_t len, bl_err *err)
{
    memset(mi, 0, sizeof *mi);
    mi->raw = raw;
    mi->raw_len = len;
    bl_bdoc d;
    bl_err e = {.offset = 0};
    if (bl_bdecode(&d, raw, len, NULL, &e) < 0) {
        /* say what the file is, not only where bencode broke */
        if (len && raw[0] != 'd')
            bl_fail(err, "not a description file: a .torrent is a bencoded dictionary, and this "
                         "one starts with byte 0x%02x ('%c')", raw[0],
                    raw[0] >= 0x20 && raw[0] < 0x7f ? raw[0] : '?');
        else if (strstr(e.msg, "truncated") || strstr(e.msg, "end of input"))
            bl_fail(err, "truncated: the file ends at byte %zu, inside the description (an "
                         "incomplete download or copy?)", len);
        else
            bl_fail(err, "not a valid description file: %s", e.msg);
        if (err)
            err->offset = e.offset;
        bl_metainfo_free(mi);
        return -1;
    }
    int rc = parse_doc(mi, &d, err);
    bl_bdoc_free(&d);
    if (rc < 0)
        bl_metainfo_free(mi);
    return rc;
}

int bl_metainfo_load(bl_metainfo *mi, const char *path, bl_err *err)
{
    memset(mi, 0, sizeof *mi);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bl_fail(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bl_fail(err, "%s: not a regular file", path);
    }
    if (st.st_size > MAX_TORRENT_BYTES) {
        close(fd);
        return bl_fail(err, "%s: %lld bytes is too large for a description file (max %u MiB)",
                       path, (long long)st.st_size, MAX_TORRENT_BYTES >> 20);
    }
    if (st.st_size == 0) {
        close(fd);
        return bl_fail(err, "%s: empty file, not a description file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *raw = malloc(n);
    if (!raw) {
        close(fd);
        return bl_fail(err, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, raw + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(raw);
            close(fd);
            return bl_fail(err, "%s: read: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    if (bl_metainfo_parse(mi, raw, n, err) < 0)
        return bl_fail_ctx(err, "%s", path);
    return 0;
}

void bl_metainfo_free(bl_metainfo *mi)
{
    for (size_t i = 0; i < mi->num_files; i++) {
        free(mi->files[i].path);
        free(mi->files[i].symlink_path);
    }
    free(mi->files);
    for (size_t i = 0; i < mi->num_entries; i++) {
        free(mi->entries[i].path);
        free(mi->entries[i].target);
    }
    free(mi->entries);
    for (size_t t = 0; t < mi->num_tiers; t++) {
        for (char **u = mi->tiers[t]; u && *u; u++)
            free(*u);
        free(mi->tiers[t]);
    }
    free(mi->tiers);
    for (size_t i = 0; i < mi->num_prefetch; i++)
        free(mi->prefetch[i]);
    free(mi->prefetch);
    for (size_t i = 0; i < mi->num_env; i++) {
        for (size_t j = 0; j < mi->env[i].num_dirs; j++)
            free(mi->env[i].dirs[j]);
        free(mi->env[i].dirs);
        free(mi->env[i].name);
    }
    free(mi->env);
    free(mi->name);
    free(mi->mount);
    free(mi->comment);
    free(mi->created_by);
    free(mi->raw);
    memset(mi, 0, sizeof *mi);
}

const bl_mentry *bl_metainfo_lookup(const bl_metainfo *mi, const char *path)
{
    size_t lo = 0, hi = mi->num_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(mi->entries[mid].path, path);
        if (c == 0)
            return &mi->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void bl_metainfo_piece_range(const bl_metainfo *mi, size_t f, uint64_t off, uint64_t len,
                             uint32_t *first, uint32_t *last)
{
    const bl_mfile *mf = &mi->files[f];
    if (len == 0 || off >= mf->length) {
        *first = 1;
        *last = 0;
        return;
    }
    if (len > mf->length - off)
        len = mf->length - off;
    uint64_t a = mf->offset + off;
    *first = (uint32_t)(a / mi->piece_length);
    *last = (uint32_t)((a + len - 1) / mi->piece_length);
}

size_t bl_metainfo_file_at(const bl_metainfo *mi, uint64_t pos)
{
    size_t lo = 0, hi = mi->num_files; /* last file with offset <= pos */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (mi->files[mid].offset <= pos) lo = mid;
        else hi = mid;
    }
    while (lo < mi->num_files && mi->files[lo].offset + mi->files[lo].length <= pos) lo++;
    return lo;
}

void bl_metainfo_piece_files(const bl_metainfo *mi, uint32_t i, size_t *first, size_t *end)
{
    uint64_t start = (uint64_t)i * mi->piece_length;
    uint64_t stop = start + bl_metainfo_piece_size(mi, i);
    size_t f = *first = bl_metainfo_file_at(mi, start);
    while (f < mi->num_files && mi->files[f].offset < stop)
        f++;
    *end = f;
}

uint32_t bl_metainfo_piece_data_len(const bl_metainfo *mi, uint32_t i)
{
    uint32_t size = bl_metainfo_piece_size(mi, i);
    if (!size) return 0;
    uint64_t start = (uint64_t)i * mi->piece_length;
    size_t f = bl_metainfo_file_at(mi, start + size - 1);
    if (f >= mi->num_files || !(mi->files[f].attr & BL_ATTR_PAD) || mi->files[f].offset <= start)
        return size;
    return (uint32_t)(mi->files[f].offset - start);
}

uint32_t bl_metainfo_piece_size(const bl_metainfo *mi, uint32_t i)
{
    if (i + 1 < mi->num_pieces)
        return (uint32_t)mi->piece_length;
    uint64_t rest = mi->total_length - (uint64_t)i * mi->piece_length;
    return (uint32_t)rest;
}
