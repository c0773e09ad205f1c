/* fsindex: see fsindex.h. */
#include "fs/fsindex.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SYMLINK_HOPS 40
#define RESOLVE_MAX 8192

static int cmp_names(const void *a, const void *b, void *ctx)
{
    const bl_fsindex *ix = ctx;
    return strcmp(ix->name[*(const size_t *)a], ix->name[*(const size_t *)b]);
}

void bl_fsindex_free(bl_fsindex *ix)
{
    free(ix->name);
    free(ix->parent);
    free(ix->child_start);
    free(ix->child_count);
    free(ix->children);
    free(ix->nsubdirs);
    memset(ix, 0, sizeof *ix);
}

int bl_fsindex_build(bl_fsindex *ix, const bl_metainfo *mi, bl_err *err)
{
    memset(ix, 0, sizeof *ix);
    size_t n = mi->num_entries;
    if (n == 0 || mi->entries[0].path[0] != 0 || !S_ISDIR(mi->entries[0].mode))
        return bl_fail(err, "description has no root directory entry");
    ix->mi = mi;
    ix->name = calloc(n, sizeof *ix->name);
    ix->parent = calloc(n, sizeof *ix->parent);
    ix->child_start = calloc(n, sizeof *ix->child_start);
    ix->child_count = calloc(n, sizeof *ix->child_count);
    ix->children = calloc(n, sizeof *ix->children);
    ix->nsubdirs = calloc(n, sizeof *ix->nsubdirs);
    if (!ix->name || !ix->parent || !ix->child_start || !ix->child_count || !ix->children ||
        !ix->nsubdirs) {
        bl_fsindex_free(ix);
        return bl_fail(err, "out of memory for the file index (%zu entries)", n);
    }
    ix->name[0] = "";
    ix->parent[0] = 0;
    char *tmp = NULL;
    size_t tmpcap = 0;
    for (size_t i = 1; i < n; i++) {
        const char *p = mi->entries[i].path;
        const char *slash = strrchr(p, '/');
        ix->name[i] = slash ? slash + 1 : p;
        size_t plen = slash ? (size_t)(slash - p) : 0;
        if (plen + 1 > tmpcap) {
            char *nt = realloc(tmp, plen + 1);
            if (!nt) {
                free(tmp);
                bl_fsindex_free(ix);
                return bl_fail(err, "out of memory");
            }
            tmp = nt;
            tmpcap = plen + 1;
        }
        memcpy(tmp, p, plen);
        tmp[plen] = 0;
        const bl_mentry *pe = bl_metainfo_lookup(mi, tmp);
        if (!pe || !S_ISDIR(pe->mode)) {
            free(tmp);
            bl_fsindex_free(ix);
            return bl_fail(err, "description: '%s' has no parent directory entry", p);
        }
        size_t pi = (size_t)(pe - mi->entries);
        ix->parent[i] = pi;
        ix->child_count[pi]++;
        if (S_ISDIR(mi->entries[i].mode))
            ix->nsubdirs[pi]++;
    }
    free(tmp);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        ix->child_start[i] = at;
        at += ix->child_count[i];
        ix->child_count[i] = 0; /* refilled below */
    }
    for (size_t i = 1; i < n; i++) {
        size_t pi = ix->parent[i];
        ix->children[ix->child_start[pi] + ix->child_count[pi]++] = i;
    }
    for (size_t i = 0; i < n; i++)
        if (ix->child_count[i] > 1)
            qsort_r(ix->children + ix->child_start[i], ix->child_count[i], sizeof(size_t),
                    cmp_names, ix);
    return 0;
}

size_t bl_fsindex_entry(const bl_fsindex *ix, uint64_t ino)
{
    if (ino == 0 || ino > ix->mi->num_entries)
        return BL_FS_NO_ENTRY;
    return (size_t)(ino - 1);
}

size_t bl_fsindex_lookup(const bl_fsindex *ix, size_t dir, const char *name, size_t n)
{
    if (dir >= ix->mi->num_entries || !S_ISDIR(ix->mi->entries[dir].mode))
        return BL_FS_NO_ENTRY;
    if (n == 1 && name[0] == '.')
        return dir;
    if (n == 2 && name[0] == '.' && name[1] == '.')
        return ix->parent[dir];
    const size_t *c = ix->children + ix->child_start[dir];
    size_t lo = 0, hi = ix->child_count[dir];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = ix->name[c[mid]];
        int r = strncmp(m, name, n);
        if (r == 0 && m[n] != 0)
            r = 1; /* m is longer: it sorts after name */
        if (r == 0)
            return c[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return BL_FS_NO_ENTRY;
}

size_t bl_fsindex_resolve(const bl_fsindex *ix, const char *path, bool follow_last)
{
    const bl_metainfo *mi = ix->mi;
    char buf[RESOLVE_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return BL_FS_NO_ENTRY;
    memcpy(buf, path, len + 1);
    size_t cur = 0, pos = 0;
    int hops = 0;
    while (buf[pos]) {
        while (buf[pos] == '/')
            pos++;
        if (!buf[pos])
            break;
        size_t start = pos;
        while (buf[pos] && buf[pos] != '/')
            pos++;
        size_t n = pos - start;
        bool last = true;
        for (size_t k = pos; buf[k]; k++)
            if (buf[k] != '/') {
                last = false;
                break;
            }
        if (n == 1 && buf[start] == '.')
            continue;
        if (n == 2 && buf[start] == '.' && buf[start + 1] == '.') {
            if (cur == 0)
                return BL_FS_NO_ENTRY; /* above the set's root */
            cur = ix->parent[cur];
            continue;
        }
        size_t e = bl_fsindex_lookup(ix, cur, buf + start, n);
        if (e == BL_FS_NO_ENTRY)
            return BL_FS_NO_ENTRY;
        const bl_mentry *me = &mi->entries[e];
        if (S_ISLNK(me->mode) && (!last || follow_last)) {
            if (++hops > MAX_SYMLINK_HOPS || !me->target)
                return BL_FS_NO_ENTRY;
            const char *t = me->target;
            if (t[0] == '/') {
                /* absolute: only inside the mount point the set records */
                size_t ml = mi->mount ? strlen(mi->mount) : 0;
                while (ml > 1 && mi->mount[ml - 1] == '/')
                    ml--;
                if (!ml || strncmp(t, mi->mount, ml) != 0 || (t[ml] != '/' && t[ml] != 0))
                    return BL_FS_NO_ENTRY;
                t += ml;
                cur = 0;
            }
            /* splice: target + rest of the path replaces what we consumed */
            size_t tl = strlen(t), rest = strlen(buf + pos);
            if (tl + 1 + rest >= sizeof buf)
                return BL_FS_NO_ENTRY;
            memmove(buf + tl + 1, buf + pos, rest + 1);
            memcpy(buf, t, tl);
            buf[tl] = '/';
            pos = 0;
            continue; /* cur stays the symlink's directory (or the root) */
        }
        if (!last && !S_ISDIR(me->mode))
            return BL_FS_NO_ENTRY;
        cur = e;
    }
    return cur;
}

void bl_fsindex_stat(const bl_fsindex *ix, size_t entry, uid_t uid, gid_t gid, struct stat *st)
{
    const bl_mentry *e = &ix->mi->entries[entry];
    memset(st, 0, sizeof *st);
    st->st_ino = bl_fsindex_ino(entry);
    st->st_mode = e->mode;
    st->st_nlink = S_ISDIR(e->mode) ? 2 + ix->nsubdirs[entry] : 1;
    st->st_uid = uid;
    st->st_gid = gid;
    st->st_size = S_ISDIR(e->mode) ? 4096 : (off_t)e->size;
    st->st_blksize = 131072;
    st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
    st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)e->mtime;
}

bool bl_fsindex_pieces(const bl_fsindex *ix, size_t entry, uint32_t *first, uint32_t *last)
{
    const bl_mentry *e = &ix->mi->entries[entry];
    if (!S_ISREG(e->mode) || e->file < 0 || e->size == 0)
        return false;
    const bl_mfile *f = &ix->mi->files[e->file];
    bl_metainfo_piece_range(ix->mi, (size_t)e->file, 0, f->length, first, last);
    return *first <= *last;
}
