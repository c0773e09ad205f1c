/* manifest: encode, bounded parse and signature of offload manifests
 * (see manifest.h). */
#include "offload/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bencode.h"

uint64_t bl_mf_stripes(uint64_t total, unsigned k, uint64_t chunk)
{
    uint64_t sb = (uint64_t)k * chunk;
    return sb ? (total + sb - 1) / sb : 0;
}

static void body(const bl_manifest *mf, bl_buf *b)
{
    bl_benc_dict(b);
    bl_benc_cstr(b, "chunk");
    bl_benc_int(b, (int64_t)mf->chunk);
    bl_benc_cstr(b, "chunks");
    bl_benc_list(b);
    for (uint64_t i = 0; i < mf->nstripes * mf->m; i++) {
        const bl_mf_chunk *c = &mf->chunks[i];
        bl_benc_dict(b);
        bl_benc_cstr(b, "at");
        bl_benc_list(b);
        for (unsigned a = 0; a < c->nat; a++)
            bl_benc_int(b, c->at[a]);
        bl_benc_end(b);
        bl_benc_cstr(b, "sha256");
        bl_benc_str(b, c->sha, BL_SHA256_LEN);
        bl_benc_end(b);
    }
    bl_benc_end(b);
    bl_benc_cstr(b, "deadline");
    bl_benc_int(b, mf->deadline);
    bl_benc_cstr(b, "depots");
    bl_benc_list(b);
    for (size_t i = 0; i < mf->ndepots; i++)
        bl_benc_cstr(b, mf->depots[i]);
    bl_benc_end(b);
    bl_benc_cstr(b, "files");
    bl_benc_list(b);
    for (size_t i = 0; i < mf->nfiles; i++) {
        bl_benc_dict(b);
        bl_benc_cstr(b, "length");
        bl_benc_int(b, (int64_t)mf->files[i].length);
        bl_benc_cstr(b, "name");
        bl_benc_cstr(b, mf->files[i].name);
        bl_benc_cstr(b, "sha256");
        bl_benc_str(b, mf->files[i].sha, BL_SHA256_LEN);
        bl_benc_end(b);
    }
    bl_benc_end(b);
    bl_benc_cstr(b, "id");
    bl_benc_str(b, mf->id, BL_OFFLOAD_ID_LEN);
    bl_benc_cstr(b, "k");
    bl_benc_int(b, mf->k);
    bl_benc_cstr(b, "m");
    bl_benc_int(b, mf->m);
    bl_benc_cstr(b, "pull key");
    bl_benc_str(b, mf->pull_key, BL_SHA256_LEN);
    bl_benc_cstr(b, "purge");
    bl_benc_int(b, mf->purge);
    bl_benc_cstr(b, "replicas");
    bl_benc_int(b, mf->replicas);
    bl_benc_cstr(b, "total");
    bl_benc_int(b, (int64_t)mf->total);
    bl_benc_cstr(b, "v");
    bl_benc_int(b, 1);
    bl_benc_end(b);
}

static void sign(const bl_okey *key, const uint8_t *p, size_t n, uint8_t out[BL_SHA256_LEN])
{
    static const char label[] = "bitlib-offload-manifest-v1";
    const void *parts[] = {label, p};
    size_t lens[] = {sizeof label - 1, n};
    bl_hmac(key, out, 2, parts, lens);
}

void bl_mf_encode(const bl_manifest *mf, const bl_okey *key, bl_buf *out)
{
    bl_buf b;
    bl_buf_init(&b);
    body(mf, &b);
    uint8_t sig[BL_SHA256_LEN];
    sign(key, b.data, b.len, sig);
    bl_benc_dict(out);
    bl_benc_cstr(out, "manifest");
    bl_buf_put(out, b.data, b.len);
    if (b.oom)
        out->oom = true;
    bl_benc_cstr(out, "sig");
    bl_benc_str(out, sig, sizeof sig);
    bl_benc_end(out);
    bl_buf_free(&b);
}

void bl_mf_free(bl_manifest *mf)
{
    if (!mf)
        return;
    for (size_t i = 0; i < mf->ndepots; i++)
        free(mf->depots[i]);
    free(mf->depots);
    for (size_t i = 0; i < mf->nfiles; i++)
        free(mf->files[i].name);
    free(mf->files);
    free(mf->chunks);
    memset(mf, 0, sizeof *mf);
}

static int get_int(const bl_bdoc *d, const bl_bnode *dict, const char *key, int64_t lo, int64_t hi,
                   int64_t *out, bl_err *err)
{
    const bl_bnode *n = bl_bdict_get_type(d, dict, key, BL_BINT);
    if (!n)
        return bl_fail(err, "manifest: '%s' missing or not an integer", key);
    if (n->ival < lo || n->ival > hi)
        return bl_fail(err, "manifest: '%s' = %lld out of range", key, (long long)n->ival);
    *out = n->ival;
    return 0;
}

static const bl_bnode *get_str(const bl_bdoc *d, const bl_bnode *dict, const char *key,
                               size_t exact, bl_err *err)
{
    const bl_bnode *n = bl_bdict_get_type(d, dict, key, BL_BSTR);
    if (!n || (exact && n->slen != exact)) {
        bl_fail(err, "manifest: '%s' missing or malformed", key);
        return NULL;
    }
    return n;
}

static int name_ok(const uint8_t *s, size_t n)
{
    if (n == 0 || n > BL_MF_MAX_NAME || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == 0)
            return 0;
    return 1;
}

static char *dupn(const uint8_t *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

int bl_mf_parse(const uint8_t *buf, size_t len, const bl_okey *key, bl_manifest *mf, bl_err *err)
{
    memset(mf, 0, sizeof *mf);
    static const bl_blimits lim = {.max_depth = 6, .max_nodes = 16u << 20};
    bl_bdoc d;
    if (bl_bdecode(&d, buf, len, &lim, err) < 0)
        return bl_fail_ctx(err, "manifest");
    int rc = -1;
    int64_t v;
    const bl_bnode *root = bl_broot(&d), *b, *sig, *n;
    if (!root || root->type != BL_BDICT || !(b = bl_bdict_get_type(&d, root, "manifest", BL_BDICT))) {
        bl_fail(err, "manifest: not an offload manifest (no 'manifest' dictionary)");
        goto out;
    }
    if (!(sig = get_str(&d, root, "sig", BL_SHA256_LEN, err)))
        goto out;
    if (key) {
        uint8_t want[BL_SHA256_LEN];
        sign(key, buf + b->off, b->len, want);
        if (!bl_digest_eq(want, sig->str, BL_SHA256_LEN)) {
            bl_fail(err, "manifest: signature does not match the offload key (altered, or another key)");
            goto out;
        }
    }
    if (get_int(&d, b, "v", 1, 1, &v, err) < 0)
        goto out;
    if (get_int(&d, b, "k", 1, 64, &v, err) < 0)
        goto out;
    mf->k = (unsigned)v;
    if (get_int(&d, b, "m", mf->k, 64, &v, err) < 0)
        goto out;
    mf->m = (unsigned)v;
    if (get_int(&d, b, "replicas", 1, 16, &v, err) < 0)
        goto out;
    mf->replicas = (unsigned)v;
    if (get_int(&d, b, "chunk", 1, 16 << 20, &v, err) < 0)
        goto out;
    mf->chunk = (uint64_t)v;
    if (get_int(&d, b, "total", 0, INT64_MAX, &v, err) < 0)
        goto out;
    mf->total = (uint64_t)v;
    if (get_int(&d, b, "deadline", 0, INT64_MAX, &mf->deadline, err) < 0 ||
        get_int(&d, b, "purge", 0, INT64_MAX, &mf->purge, err) < 0)
        goto out;
    if (!(n = get_str(&d, b, "id", BL_OFFLOAD_ID_LEN, err)))
        goto out;
    memcpy(mf->id, n->str, BL_OFFLOAD_ID_LEN);
    if (!(n = get_str(&d, b, "pull key", BL_SHA256_LEN, err)))
        goto out;
    memcpy(mf->pull_key, n->str, BL_SHA256_LEN);
    mf->nstripes = bl_mf_stripes(mf->total, mf->k, mf->chunk);
    if (mf->nstripes > BL_MF_MAX_STRIPES) {
        bl_fail(err, "manifest: %llu stripes (limit %u)", (unsigned long long)mf->nstripes, BL_MF_MAX_STRIPES);
        goto out;
    }

    const bl_bnode *dl = bl_bdict_get_type(&d, b, "depots", BL_BLIST);
    if (!dl || dl->count == 0 || dl->count > BL_MF_MAX_DEPOTS) {
        bl_fail(err, "manifest: 'depots' missing, empty or over %d", BL_MF_MAX_DEPOTS);
        goto out;
    }
    if (!(mf->depots = calloc(dl->count, sizeof *mf->depots)))
        goto oom;
    for (const bl_bnode *c = bl_bfirst(&d, dl); c; c = bl_bnext(&d, dl, c)) {
        if (c->type != BL_BSTR || c->slen == 0 || c->slen > 200 || memchr(c->str, 0, c->slen)) {
            bl_fail(err, "manifest: depot %zu is not a HOST:PORT string", mf->ndepots);
            goto out;
        }
        if (!(mf->depots[mf->ndepots] = dupn(c->str, c->slen)))
            goto oom;
        mf->ndepots++;
    }

    const bl_bnode *fl = bl_bdict_get_type(&d, b, "files", BL_BLIST);
    if (!fl || fl->count == 0 || fl->count > BL_MF_MAX_FILES) {
        bl_fail(err, "manifest: 'files' missing, empty or over %d", BL_MF_MAX_FILES);
        goto out;
    }
    if (!(mf->files = calloc(fl->count, sizeof *mf->files)))
        goto oom;
    uint64_t sum = 0;
    for (const bl_bnode *c = bl_bfirst(&d, fl); c; c = bl_bnext(&d, fl, c)) {
        bl_mf_file *f = &mf->files[mf->nfiles];
        if (c->type != BL_BDICT) {
            bl_fail(err, "manifest: file %zu is not a dictionary", mf->nfiles);
            goto out;
        }
        const bl_bnode *nm = get_str(&d, c, "name", 0, err), *sh;
        if (!nm || !name_ok(nm->str, nm->slen)) {
            bl_fail(err, "manifest: file %zu has no safe name (one path component)", mf->nfiles);
            goto out;
        }
        for (size_t j = 0; j < mf->nfiles; j++)
            if (strlen(mf->files[j].name) == nm->slen && !memcmp(mf->files[j].name, nm->str, nm->slen)) {
                bl_fail(err, "manifest: file name %s appears twice", mf->files[j].name);
                goto out;
            }
        if (!(sh = get_str(&d, c, "sha256", BL_SHA256_LEN, err)) ||
            get_int(&d, c, "length", 0, INT64_MAX, &v, err) < 0)
            goto out;
        if (!(f->name = dupn(nm->str, nm->slen)))
            goto oom;
        memcpy(f->sha, sh->str, BL_SHA256_LEN);
        f->length = (uint64_t)v;
        mf->nfiles++;
        if (f->length > UINT64_MAX / 2 - sum) {
            bl_fail(err, "manifest: file lengths overflow");
            goto out;
        }
        sum += f->length;
    }
    if (sum != mf->total) {
        bl_fail(err, "manifest: files add up to %llu bytes, total says %llu", (unsigned long long)sum,
                (unsigned long long)mf->total);
        goto out;
    }

    const bl_bnode *cl = bl_bdict_get_type(&d, b, "chunks", BL_BLIST);
    uint64_t want = mf->nstripes * mf->m;
    if (!cl || cl->count != want) {
        bl_fail(err, "manifest: 'chunks' must list %llu chunks", (unsigned long long)want);
        goto out;
    }
    if (want && !(mf->chunks = calloc(want, sizeof *mf->chunks)))
        goto oom;
    uint64_t i = 0;
    for (const bl_bnode *c = bl_bfirst(&d, cl); c; c = bl_bnext(&d, cl, c), i++) {
        bl_mf_chunk *ch = &mf->chunks[i];
        const bl_bnode *sh, *at;
        if (c->type != BL_BDICT || !(sh = get_str(&d, c, "sha256", BL_SHA256_LEN, err)) ||
            !(at = bl_bdict_get_type(&d, c, "at", BL_BLIST)) || at->count > BL_MF_MAX_AT) {
            bl_fail(err, "manifest: chunk %llu malformed", (unsigned long long)i);
            goto out;
        }
        memcpy(ch->sha, sh->str, BL_SHA256_LEN);
        for (const bl_bnode *a = bl_bfirst(&d, at); a; a = bl_bnext(&d, at, a)) {
            if (a->type != BL_BINT || a->ival < 0 || (uint64_t)a->ival >= mf->ndepots) {
                bl_fail(err, "manifest: chunk %llu names no listed depot", (unsigned long long)i);
                goto out;
            }
            ch->at[ch->nat++] = (uint16_t)a->ival;
        }
    }
    rc = 0;
    goto out;
oom:
    bl_fail(err, "manifest: out of memory");
out:
    bl_bdoc_free(&d);
    if (rc < 0)
        bl_mf_free(mf);
    return rc;
}

int bl_mf_load(const char *path, const bl_okey *key, bl_manifest *mf, bl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bl_fail(err, "manifest %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > BL_MF_MAX_BYTES) {
        close(fd);
        return bl_fail(err, "manifest %s: not a regular file of at most %u bytes", path, BL_MF_MAX_BYTES);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf || read(fd, buf, n) != (ssize_t)n) {
        free(buf);
        close(fd);
        return bl_fail(err, "manifest %s: read failed", path);
    }
    close(fd);
    int rc = bl_mf_parse(buf, n, key, mf, err);
    free(buf);
    if (rc < 0)
        bl_fail_ctx(err, "%s", path);
    return rc;
}

int bl_mf_save(const char *path, const bl_manifest *mf, const bl_okey *key, bl_err *err)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_mf_encode(mf, key, &b);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = b.oom ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd < 0) {
        bl_fail(err, "manifest %s: %s", tmp, b.oom ? "out of memory" : strerror(errno));
    } else {
        if (write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) < 0)
            bl_fail(err, "manifest %s: write: %s", tmp, strerror(errno));
        else if (close(fd) < 0 || (fd = -1, rename(tmp, path) < 0))
            bl_fail(err, "manifest %s: %s", path, strerror(errno));
        else
            rc = 0;
        if (fd >= 0)
            close(fd);
        if (rc < 0 && unlink(tmp) < 0 && errno != ENOENT)
            bl_fail_ctx(err, "(and %s is left behind)", tmp);
    }
    bl_buf_free(&b);
    return rc;
}
