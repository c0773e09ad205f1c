/* okey: offload keys, HMAC and SHA-256 on OpenSSL (see okey.h). */
#include "offload/okey.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int bl_okey_load(bl_okey *key, const char *path, bl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bl_fail(err, "offload key %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bl_fail(err, "offload key %s: not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return bl_fail(err, "offload key %s: readable by others (mode %04o); chmod 600 it", path,
                       (unsigned)(st.st_mode & 07777));
    }
    uint8_t buf[BL_OKEY_MAX + 64];
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    if (n < 0)
        return bl_fail(err, "offload key %s: %s", path, strerror(e));
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    if (n < BL_OKEY_MIN || n > BL_OKEY_MAX)
        return bl_fail(err, "offload key %s: %zd bytes; need %d to %d (e.g. openssl rand -hex 32)",
                       path, n, BL_OKEY_MIN, BL_OKEY_MAX);
    memcpy(key->bytes, buf, (size_t)n);
    key->len = (size_t)n;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

void bl_hmac(const bl_okey *key, uint8_t out[BL_SHA256_LEN], size_t n, const void *const *ptr,
             const size_t *len)
{
    /* one-shot HMAC over the parts joined: HMAC_CTX is deprecated in 3.0,
     * EVP_MAC is heavier than this needs; HMAC() over a joined buffer
     * keeps it simple (parts are small: labels, ids, nonces, bodies) */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += len[i];
    unsigned char stackbuf[512];
    unsigned char *joined = total <= sizeof stackbuf ? stackbuf : OPENSSL_malloc(total);
    if (!joined) {
        memset(out, 0, BL_SHA256_LEN); /* never equals a real MAC in practice; fails closed */
        return;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (len[i])
            memcpy(joined + at, ptr[i], len[i]);
        at += len[i];
    }
    unsigned int outlen = BL_SHA256_LEN;
    HMAC(EVP_sha256(), key->bytes, (int)key->len, joined, total, out, &outlen);
    if (joined != stackbuf)
        OPENSSL_free(joined);
}

void bl_okey_pull(const bl_okey *key, const uint8_t id[BL_OFFLOAD_ID_LEN], bl_okey *pull)
{
    static const char label[] = "bitlib-offload-pull-key-v1";
    const void *p[] = {label, id};
    size_t l[] = {sizeof label - 1, BL_OFFLOAD_ID_LEN};
    bl_hmac(key, pull->bytes, 2, p, l);
    pull->len = BL_SHA256_LEN;
}

void bl_sha256(const void *data, size_t len, uint8_t out[BL_SHA256_LEN])
{
    unsigned int n = BL_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

int bl_sha256_fd(int fd, uint64_t len, uint8_t out[BL_SHA256_LEN], bl_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(1u << 20);
    int rc = -1;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        bl_fail(err, "SHA-256: out of memory");
        goto out;
    }
    for (uint64_t off = 0; off < len;) {
        size_t want = len - off < (1u << 20) ? (size_t)(len - off) : (1u << 20);
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            bl_fail(err, "read: %s", n < 0 ? strerror(errno) : "the file is shorter than it was");
            goto out;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += (uint64_t)n;
    }
    unsigned int n = BL_SHA256_LEN;
    EVP_DigestFinal_ex(ctx, out, &n);
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

int bl_digest_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int bl_random(void *buf, size_t n, bl_err *err)
{
    if (RAND_bytes(buf, (int)n) != 1)
        return bl_fail(err, "random bytes: OpenSSL RAND_bytes failed");
    return 0;
}
