/* desccache: see desccache.h. */
#include "launch/desccache.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/sha1.h"
#include "meta/create.h"
#include "meta/jobmeta.h"
#include "meta/metainfo.h"

/* nftw has no context argument: one walk at a time (a CLI command). */
static bl_buf *walk_lines;

static int walk_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag, (void)ftw;
    char target[PATH_MAX] = "";
    if (S_ISLNK(st->st_mode)) {
        ssize_t n = readlink(p, target, sizeof target - 1);
        target[n > 0 ? n : 0] = 0;
    }
    bl_buf_printf(walk_lines, "%s\t%o\t%lld\t%lld.%09ld\t%s\n", p, (unsigned)st->st_mode,
                  (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                  target);
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hex SHA-1 of the sorted lines describing every entry. */
static int fingerprint(const bl_desc_job *j, char out[41], bl_err *err)
{
    bl_buf lines;
    bl_buf_init(&lines);
    walk_lines = &lines;
    for (size_t i = 0; i < j->num_dirs; i++)
        if (nftw(j->dirs[i], walk_one, 32, FTW_PHYS) < 0) {
            bl_buf_free(&lines);
            return bl_fail(err, "%s: %s", j->dirs[i], strerror(errno));
        }
    struct stat st;
    if (j->exe && stat(j->exe, &st) == 0)
        walk_one(j->exe, &st, 0, NULL);
    if (lines.oom) {
        bl_buf_free(&lines);
        return bl_fail(err, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < lines.len; i++)
        n += lines.data[i] == '\n';
    char **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        bl_buf_free(&lines);
        return bl_fail(err, "out of memory");
    }
    char *p = (char *)lines.data;
    for (size_t i = 0; i < n; i++) {
        v[i] = p;
        p = strchr(p, '\n');
        *p++ = 0;
    }
    qsort(v, n, sizeof *v, cmp_line);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    for (size_t i = 0; i < n; i++)
        EVP_DigestUpdate(c, v[i], strlen(v[i]) + 1);
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    bl_hex(md, BL_SHA1_LEN, out);
    free(v);
    bl_buf_free(&lines);
    return 0;
}

static int cache_key(const bl_desc_job *j, char out[41])
{
    bl_buf b;
    bl_buf_init(&b);
    for (size_t i = 0; i < j->num_dirs; i++) {
        char rp[PATH_MAX];
        bl_buf_printf(&b, "%s", realpath(j->dirs[i], rp) ? rp : j->dirs[i]);
        bl_buf_putc(&b, 0);
    }
    bl_buf_printf(&b, "exe=%s", j->exe ? j->exe : "");
    uint8_t md[BL_SHA1_LEN];
    bl_sha1(b.data, b.len, md);
    bl_hex(md, BL_SHA1_LEN, out);
    bl_buf_free(&b);
    return 0;
}

static int write_atomic(const char *path, const void *data, size_t len, bl_err *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return bl_fail(err, "%s: %s", tmp, strerror(errno));
    bool ok = write(fd, data, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return bl_fail(err, "%s: %s", path, strerror(errno));
    }
    return 0;
}

static bool same_file_text(const char *path, const char *text)
{
    char buf[128];
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool same = fgets(buf, sizeof buf, f) && !strcmp(buf, text);
    fclose(f);
    return same;
}

/* Is the executable inside one of the set's directories? (else it prefetches nothing) */
static bool exe_in_set(const bl_desc_job *j)
{
    char re[PATH_MAX], rd[PATH_MAX];
    if (!j->exe || !realpath(j->exe, re))
        return false;
    for (size_t i = 0; i < j->num_dirs; i++) {
        size_t n;
        if (realpath(j->dirs[i], rd) && (n = strlen(rd)) && !strncmp(re, rd, n) && re[n] == '/')
            return true;
    }
    return false;
}

int bl_desc_for_job(const bl_desc_job *j, bool *reused, bl_err *err)
{
    char key[41], fp[41], fpline[64], tpath[PATH_MAX], fpath[PATH_MAX];
    if (mkdir(j->cache_dir, 0700) < 0 && errno != EEXIST)
        return bl_fail(err, "%s: cannot create: %s", j->cache_dir, strerror(errno));
    cache_key(j, key);
    if (fingerprint(j, fp, err) < 0)
        return -1;
    snprintf(fpline, sizeof fpline, "%s\n", fp);
    if (snprintf(tpath, sizeof tpath, "%s/%s.torrent", j->cache_dir, key) >= (int)sizeof tpath ||
        snprintf(fpath, sizeof fpath, "%s/%s.fp", j->cache_dir, key) >= (int)sizeof fpath)
        return bl_fail(err, "%s: path too long", j->cache_dir);
    bl_metainfo mi;
    bl_err e;
    *reused = same_file_text(fpath, fpline) && bl_metainfo_load(&mi, tpath, &e) == 0;
    if (!*reused) {
        const char *from[1] = {j->exe};
        bl_create_opts o = {
            .dirs = j->dirs, .num_dirs = j->num_dirs, .name = j->num_dirs > 1 ? "set" : NULL,
            .prefetch_from = from, .num_prefetch_from = exe_in_set(j) ? 1 : 0,
        };
        bl_buf b;
        bl_buf_init(&b);
        if (bl_create(&o, &b, NULL, err) < 0) {
            bl_buf_free(&b);
            return -1;
        }
        if (write_atomic(tpath, b.data, b.len, err) < 0 ||
            write_atomic(fpath, fpline, strlen(fpline), err) < 0) {
            bl_buf_free(&b);
            return -1;
        }
        size_t len;
        uint8_t *raw = bl_buf_steal(&b, &len);
        if (bl_metainfo_parse(&mi, raw, len, err) < 0)
            return -1;
    }
    const char *tb[1];
    bl_jobmeta jm;
    bl_jobmeta_of(&mi, &jm, tb, 0);
    jm.trackers = j->trackers;
    jm.num_trackers = j->num_trackers;
    bl_buf out;
    bl_buf_init(&out);
    int rc = bl_jobmeta_rewrite(&mi, &jm, &out, err);
    if (rc == 0)
        rc = write_atomic(j->out, out.data, out.len, err);
    bl_buf_free(&out);
    bl_metainfo_free(&mi);
    return rc;
}
