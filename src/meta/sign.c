/* sign: see sign.h.  OpenSSL does the Ed25519 and SHA-256; this module
 * knows where the signature sits in a description and what it covers. */
#include "meta/sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "core/bencode.h"

#define SIG_KEY "bitlib signature"
#define JOB_KEY "bitlib"
#define CONTEXT "bitlib-signature-v1"
#define MAX_KEY_FILE (64u << 10)

struct bl_signkey {
    EVP_PKEY *pkey;
    uint8_t pub[BL_SIGN_KEY_LEN];
};

void bl_sign_fingerprint(const uint8_t key[BL_SIGN_KEY_LEN], char fpr[BL_SIGN_FPR_LEN])
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256(key, BL_SIGN_KEY_LEN, d);
    memcpy(fpr, "ed25519:", 8);
    for (int i = 0; i < 8; i++)
        snprintf(fpr + 8 + 2 * i, 3, "%02x", d[i]);
}

/* ---- key files ---------------------------------------------------------------- */

static int write_pem(const char *path, int mode, EVP_PKEY *pk, bool priv, bl_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return bl_fail(err, "%s: %s%s", path, strerror(errno),
                       errno == EEXIST ? " (a key is never overwritten; remove it first)" : "");
    /* the umask may only take bits away; say exactly what we mean */
    if (fchmod(fd, (mode_t)mode) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return bl_fail(err, "%s: chmod: %s", path, strerror(e));
    }
    BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
    int ok = bio && (priv ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_bio_PUBKEY(bio, pk));
    if (ok && BIO_flush(bio) != 1)
        ok = 0;
    if (ok && fsync(fd) < 0)
        ok = 0;
    if (bio)
        BIO_free(bio); /* closes fd */
    else
        close(fd);
    if (!ok) {
        unlink(path);
        return bl_fail(err, "%s: cannot write the key", path);
    }
    return 0;
}

int bl_sign_keygen(const char *path, char fpr[BL_SIGN_FPR_LEN], bl_err *err)
{
    char pub[4096];
    if (snprintf(pub, sizeof pub, "%s.pub", path) >= (int)sizeof pub)
        return bl_fail(err, "%s: path too long", path);
    if (access(pub, F_OK) == 0)
        return bl_fail(err, "%s: exists (a key is never overwritten; remove it first)", pub);
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pk) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        return bl_fail(err, "cannot generate an Ed25519 key (OpenSSL)");
    }
    EVP_PKEY_CTX_free(ctx);
    uint8_t raw[BL_SIGN_KEY_LEN];
    size_t rl = sizeof raw;
    int rc = -1;
    if (EVP_PKEY_get_raw_public_key(pk, raw, &rl) <= 0 || rl != sizeof raw)
        bl_fail(err, "cannot read the new public key (OpenSSL)");
    else if (write_pem(path, 0600, pk, true, err) == 0) {
        if (write_pem(pub, 0644, pk, false, err) < 0)
            unlink(path);
        else
            rc = 0;
    }
    if (rc == 0)
        bl_sign_fingerprint(raw, fpr);
    EVP_PKEY_free(pk);
    return rc;
}

/* Read a small PEM file into a memory BIO (bounded, one clear error). */
static BIO *read_small(const char *path, bl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        bl_fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[MAX_KEY_FILE];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            bl_fail(err, "%s: %s", path, strerror(e));
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf) {
            close(fd);
            bl_fail(err, "%s: too large for a key file", path);
            return NULL;
        }
    }
    close(fd);
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    BIO *copy = b ? BIO_new(BIO_s_mem()) : NULL;
    if (copy && BIO_write(copy, buf, (int)n) != (int)n) {
        BIO_free(copy);
        copy = NULL;
    }
    BIO_free(b);
    if (!copy)
        bl_fail(err, "%s: out of memory", path);
    return copy;
}

bl_signkey *bl_signkey_load(const char *path, bl_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        bl_fail(err, "%s: mode %03o: a private key must not be readable by others (chmod 600)",
                path, (unsigned)(st.st_mode & 0777));
        return NULL;
    }
    BIO *b = read_small(path, err);
    if (!b)
        return NULL;
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!pk || EVP_PKEY_id(pk) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        bl_fail(err, "%s: not an Ed25519 private key in PEM (make one with bitlib keygen)", path);
        return NULL;
    }
    bl_signkey *k = calloc(1, sizeof *k);
    size_t rl = BL_SIGN_KEY_LEN;
    if (!k || EVP_PKEY_get_raw_public_key(pk, k->pub, &rl) <= 0 || rl != BL_SIGN_KEY_LEN) {
        free(k);
        EVP_PKEY_free(pk);
        bl_fail(err, "%s: cannot use this key", path);
        return NULL;
    }
    k->pkey = pk;
    return k;
}

void bl_signkey_free(bl_signkey *k)
{
    if (k) {
        EVP_PKEY_free(k->pkey);
        free(k);
    }
}

void bl_signkey_fingerprint(const bl_signkey *k, char fpr[BL_SIGN_FPR_LEN])
{
    bl_sign_fingerprint(k->pub, fpr);
}

static int load_pub(const char *path, uint8_t key[BL_SIGN_KEY_LEN], bl_err *err)
{
    BIO *b = read_small(path, err);
    if (!b)
        return -1;
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    size_t rl = BL_SIGN_KEY_LEN;
    int ok = pk && EVP_PKEY_id(pk) == EVP_PKEY_ED25519 &&
             EVP_PKEY_get_raw_public_key(pk, key, &rl) > 0 && rl == BL_SIGN_KEY_LEN;
    EVP_PKEY_free(pk);
    if (!ok)
        return bl_fail(err, "%s: not an Ed25519 public key in PEM (bitlib keygen writes KEY.pub)",
                       path);
    return 0;
}

/* ---- what is signed --------------------------------------------------------------- */

static void signed_message(const uint8_t ih[20], const uint8_t jd[BL_SIGN_DIGEST_LEN],
                           uint8_t msg[sizeof CONTEXT + 20 + BL_SIGN_DIGEST_LEN])
{
    memcpy(msg, CONTEXT, sizeof CONTEXT); /* with its NUL */
    memcpy(msg + sizeof CONTEXT, ih, 20);
    memcpy(msg + sizeof CONTEXT + 20, jd, BL_SIGN_DIGEST_LEN);
}

/* The top-level dict of a description, its info dict and its job dict. */
typedef struct parsed {
    bl_bdoc d;
    const bl_bnode *root, *info, *job, *sig;
} parsed;

static int parse_top(const uint8_t *raw, size_t len, parsed *p, bl_err *err)
{
    memset(p, 0, sizeof *p);
    if (bl_bdecode(&p->d, raw, len, NULL, err) < 0)
        return -1;
    p->root = bl_broot(&p->d);
    if (!p->root || p->root->type != BL_BDICT ||
        !(p->info = bl_bdict_get(&p->d, p->root, "info")) || p->info->type != BL_BDICT) {
        bl_bdoc_free(&p->d);
        return bl_fail(err, "not a description file: no 'info' dictionary");
    }
    p->job = bl_bdict_get(&p->d, p->root, JOB_KEY);
    p->sig = bl_bdict_get(&p->d, p->root, SIG_KEY);
    return 0;
}

static void job_digest(const parsed *p, uint8_t out[BL_SIGN_DIGEST_LEN])
{
    /* the decoder accepts only canonical bencode: the span is the encoding */
    if (p->job)
        SHA256(p->d.buf + p->job->off, p->job->len, out);
    else
        SHA256((const uint8_t *)"de", 2, out);
}

static int get_bytes(const bl_bdoc *d, const bl_bnode *dict, const char *key, uint8_t *out,
                     size_t n, bl_err *err)
{
    const bl_bnode *v = bl_bdict_get_type(d, dict, key, BL_BSTR);
    if (!v || v->slen != n)
        return bl_fail(err, "malformed " SIG_KEY ": '%s' must be a string of %zu bytes", key, n);
    memcpy(out, v->str, n);
    return 0;
}

static int read_block(const parsed *p, bl_sigblock *sb, bl_err *err)
{
    memset(sb, 0, sizeof *sb);
    if (!p->sig)
        return 0;
    if (p->sig->type != BL_BDICT)
        return bl_fail(err, "malformed " SIG_KEY ": not a dictionary");
    const bl_bnode *alg = bl_bdict_get_type(&p->d, p->sig, "algorithm", BL_BSTR);
    if (!alg || !bl_bstr_eq(alg, "ed25519"))
        return bl_fail(err, "malformed " SIG_KEY ": algorithm is not 'ed25519'");
    const bl_bnode *ver = bl_bdict_get_type(&p->d, p->sig, "version", BL_BINT);
    if (!ver || ver->ival != 1)
        return bl_fail(err, "malformed " SIG_KEY ": version is not 1 (made by a newer bitlib?)");
    if (get_bytes(&p->d, p->sig, "info hash", sb->info_hash, 20, err) < 0 ||
        get_bytes(&p->d, p->sig, "job digest", sb->job_digest, BL_SIGN_DIGEST_LEN, err) < 0 ||
        get_bytes(&p->d, p->sig, "key", sb->key, BL_SIGN_KEY_LEN, err) < 0 ||
        get_bytes(&p->d, p->sig, "signature", sb->sig, BL_SIGN_SIG_LEN, err) < 0)
        return -1;
    sb->present = true;
    return 0;
}

int bl_sign_read(const uint8_t *raw, size_t len, bl_sigblock *sb,
                 uint8_t jd[BL_SIGN_DIGEST_LEN], bl_err *err)
{
    parsed p;
    if (parse_top(raw, len, &p, err) < 0)
        return -1;
    job_digest(&p, jd);
    int rc = read_block(&p, sb, err);
    bl_bdoc_free(&p.d);
    return rc;
}

int bl_sign_desc(const uint8_t *raw, size_t len, const bl_signkey *k, bl_buf *out,
                 bl_err *err)
{
    parsed p;
    if (parse_top(raw, len, &p, err) < 0)
        return -1;
    uint8_t ih[20], jd[BL_SIGN_DIGEST_LEN], sig[BL_SIGN_SIG_LEN];
    uint8_t msg[sizeof CONTEXT + 20 + BL_SIGN_DIGEST_LEN];
    SHA1(raw + p.info->off, p.info->len, ih);
    job_digest(&p, jd);
    signed_message(ih, jd, msg);
    size_t sl = sizeof sig;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int ok = mc && EVP_DigestSignInit(mc, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(mc, sig, &sl, msg, sizeof msg) == 1 && sl == sizeof sig;
    EVP_MD_CTX_free(mc);
    if (!ok) {
        bl_bdoc_free(&p.d);
        return bl_fail(err, "signing failed (OpenSSL)");
    }
    bl_buf block;
    bl_buf_init(&block);
    bl_benc_cstr(&block, SIG_KEY);
    bl_benc_dict(&block);
    bl_benc_cstr(&block, "algorithm");
    bl_benc_cstr(&block, "ed25519");
    bl_benc_cstr(&block, "info hash");
    bl_benc_str(&block, ih, sizeof ih);
    bl_benc_cstr(&block, "job digest");
    bl_benc_str(&block, jd, sizeof jd);
    bl_benc_cstr(&block, "key");
    bl_benc_str(&block, k->pub, sizeof k->pub);
    bl_benc_cstr(&block, "signature");
    bl_benc_str(&block, sig, sizeof sig);
    bl_benc_cstr(&block, "version");
    bl_benc_int(&block, 1);
    bl_benc_end(&block);

    /* copy every other key and value verbatim, the block at its sorted place */
    bool placed = false;
    bl_benc_dict(out);
    for (const bl_bnode *key = bl_bfirst(&p.d, p.root); key; key = bl_bnext(&p.d, p.root, key)) {
        const bl_bnode *val = bl_bnext(&p.d, p.root, key);
        size_t kl = strlen(SIG_KEY), m = key->slen < kl ? key->slen : kl;
        int c = memcmp(key->str, SIG_KEY, m);
        if (c == 0)
            c = key->slen < kl ? -1 : key->slen > kl ? 1 : 0;
        if (c >= 0 && !placed) {
            bl_buf_put(out, block.data, block.len);
            placed = true;
        }
        if (c != 0)
            bl_buf_put(out, raw + key->off, val->off + val->len - key->off);
        key = val;
    }
    if (!placed)
        bl_buf_put(out, block.data, block.len);
    bl_benc_end(out);
    bool oom = block.oom || out->oom;
    bl_buf_free(&block);
    bl_bdoc_free(&p.d);
    return oom ? bl_fail(err, "out of memory") : 0;
}

/* ---- trust ----------------------------------------------------------------------- */

void bl_trust_init(bl_trust *t)
{
    memset(t, 0, sizeof *t);
}

static void note_where(bl_trust *t, const char *path)
{
    size_t n = strlen(t->where);
    if (n + 3 >= sizeof t->where)
        return;
    snprintf(t->where + n, sizeof t->where - n, "%s%s", n ? ", " : "", path);
}

static int add_key(bl_trust *t, const char *path, bl_err *err)
{
    if (t->n == BL_TRUST_MAX_KEYS)
        return bl_fail(err, "%s: more than %d trusted keys", path, BL_TRUST_MAX_KEYS);
    if (load_pub(path, t->keys[t->n], err) < 0)
        return -1;
    t->n++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bl_trust_add(bl_trust *t, const char *path, bl_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return bl_fail(err, "trusted keys %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (add_key(t, path, err) < 0)
            return -1;
        note_where(t, path);
        return 0;
    }
    DIR *dir = opendir(path);
    if (!dir)
        return bl_fail(err, "trusted keys %s: %s", path, strerror(errno));
    char *names[BL_TRUST_MAX_KEYS];
    size_t n = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".pub"))
            continue;
        if (n == BL_TRUST_MAX_KEYS) {
            rc = bl_fail(err, "%s: more than %d trusted keys", path, BL_TRUST_MAX_KEYS);
            break;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = bl_fail(err, "out of memory");
            break;
        }
        n++;
    }
    closedir(dir);
    qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char full[4096];
        if (snprintf(full, sizeof full, "%s/%s", path, names[i]) >= (int)sizeof full)
            rc = bl_fail(err, "%s/%s: path too long", path, names[i]);
        else
            rc = add_key(t, full, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    if (rc == 0 && n == 0)
        rc = bl_fail(err, "trusted keys %s: no *.pub key in the directory", path);
    if (rc == 0)
        note_where(t, path);
    return rc;
}

int bl_trust_add_site(bl_trust *t, bl_err *err)
{
    const char *dir = getenv("BITLIB_TRUST_DIR");
    if (!dir)
        dir = BL_TRUST_SITE_DIR;
    if (!*dir)
        return 0;
    struct stat st;
    if (stat(dir, &st) < 0 && errno == ENOENT)
        return 0;
    return bl_trust_add(t, dir, err);
}

static bool trusted(const bl_trust *t, const uint8_t key[BL_SIGN_KEY_LEN])
{
    for (size_t i = 0; i < t->n; i++)
        if (!memcmp(t->keys[i], key, BL_SIGN_KEY_LEN))
            return true;
    return false;
}

static bool sig_valid(const bl_sigblock *sb)
{
    uint8_t msg[sizeof CONTEXT + 20 + BL_SIGN_DIGEST_LEN];
    signed_message(sb->info_hash, sb->job_digest, msg);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, sb->key, BL_SIGN_KEY_LEN);
    EVP_MD_CTX *mc = pk ? EVP_MD_CTX_new() : NULL;
    bool ok = mc && EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(mc, sb->sig, BL_SIGN_SIG_LEN, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(pk);
    return ok;
}

static int refuse(enum bl_trust_result r, enum bl_trust_result *why)
{
    if (why)
        *why = r;
    return -1;
}

int bl_trust_check(const bl_trust *t, const bl_metainfo *mi, enum bl_trust_result *why,
                   bl_err *err)
{
    if (why)
        *why = BL_TRUST_OK;
    if (t->n == 0)
        return 0;
    bl_sigblock sb;
    uint8_t jd[BL_SIGN_DIGEST_LEN];
    bl_err e;
    if (bl_sign_read(mi->raw, mi->raw_len, &sb, jd, &e) < 0) {
        bl_fail(err, "signature does not match: %s", e.msg);
        return refuse(BL_TRUST_BAD_SIGNATURE, why);
    }
    if (!sb.present) {
        bl_fail(err, "unsigned: this node accepts only descriptions signed by a trusted key "
                     "(%s); sign it with 'bitlib sign DESC --key KEY'", t->where);
        return refuse(BL_TRUST_UNSIGNED, why);
    }
    char fpr[BL_SIGN_FPR_LEN];
    bl_sign_fingerprint(sb.key, fpr);
    if (!trusted(t, sb.key)) {
        bl_fail(err, "signed by an untrusted key %s (trusted: %s)", fpr, t->where);
        return refuse(BL_TRUST_UNTRUSTED_KEY, why);
    }
    if (!sig_valid(&sb)) {
        bl_fail(err, "signature does not match: not a valid signature of key %s", fpr);
        return refuse(BL_TRUST_BAD_SIGNATURE, why);
    }
    if (memcmp(sb.info_hash, mi->info_hash, 20)) {
        char a[41], b[41];
        bl_hex(mi->info_hash, 20, a);
        bl_hex(sb.info_hash, 20, b);
        bl_fail(err, "signature does not match: the files were altered after signing "
                     "(info-hash %s, signed %s)", a, b);
        return refuse(BL_TRUST_BAD_SIGNATURE, why);
    }
    if (memcmp(sb.job_digest, jd, sizeof jd)) {
        bl_fail(err, "per-job section altered: the mount point, prefetch list or environment "
                     "differ from what key %s signed", fpr);
        return refuse(BL_TRUST_JOB_ALTERED, why);
    }
    return 0;
}
