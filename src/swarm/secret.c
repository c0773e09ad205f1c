/* secret: see secret.h. */
#include "swarm/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/sha1.h"

int bl_secret_load(bl_secret *s, const char *path, bl_err *err)
{
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return bl_fail(err, "secret file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bl_fail(err, "secret file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return bl_fail(err, "secret file %s can be read by others (mode %03o): 'chmod 600 %s'",
                       path, (unsigned)(st.st_mode & 0777), path);
    }
    uint8_t buf[BL_SECRET_MAX + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    if (n < 0)
        return bl_fail(err, "secret file %s: %s", path, strerror(e));
    size_t len = (size_t)n;
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    if (len < BL_SECRET_MIN || len > BL_SECRET_MAX)
        return bl_fail(err, "secret file %s holds %zu bytes: a job secret has %d to %d "
                            "('bitlib launch' makes one, or: head -c 32 /dev/urandom | "
                            "od -An -tx1 | tr -d ' \\n' > FILE)", path, len, BL_SECRET_MIN, BL_SECRET_MAX);
    memcpy(s->bytes, buf, len);
    s->len = len;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

int bl_secret_generate(const char *path, bl_err *err)
{
    uint8_t raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return bl_fail(err, "getrandom: %s", strerror(errno));
    char hex[2 * sizeof raw + 2];
    bl_hex(raw, sizeof raw, hex);
    OPENSSL_cleanse(raw, sizeof raw);
    size_t n = strlen(hex);
    hex[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return bl_fail(err, "secret file %s: %s", path, strerror(errno));
    ssize_t w = write(fd, hex, n);
    int e = errno;
    OPENSSL_cleanse(hex, sizeof hex);
    if (w != (ssize_t)n || fsync(fd) < 0) {
        close(fd);
        unlink(path);
        return bl_fail(err, "secret file %s: %s", path, strerror(w < 0 ? e : EIO));
    }
    close(fd);
    return 0;
}

static void hmac(const bl_secret *s, const uint8_t *msg, size_t len, uint8_t out[32])
{
    unsigned outlen = 32;
    HMAC(EVP_sha256(), s->bytes, (int)s->len, msg, len, out, &outlen);
}

void bl_secret_proof(const bl_secret *s, const uint8_t info_hash[20],
                     const uint8_t sender_id[20], const uint8_t receiver_id[20],
                     const uint8_t *sender_nonce, const uint8_t *receiver_nonce, size_t nonce_len,
                     uint8_t out[BL_SECRET_PROOF_LEN])
{
    static const char label[] = "bitlib-auth-v1";
    uint8_t msg[sizeof label - 1 + 60 + 2 * 64];
    if (nonce_len > 64)
        nonce_len = 64;
    size_t n = 0;
    memcpy(msg + n, label, sizeof label - 1), n += sizeof label - 1;
    memcpy(msg + n, info_hash, 20), n += 20;
    memcpy(msg + n, sender_id, 20), n += 20;
    memcpy(msg + n, receiver_id, 20), n += 20;
    memcpy(msg + n, sender_nonce, nonce_len), n += nonce_len;
    memcpy(msg + n, receiver_nonce, nonce_len), n += nonce_len;
    hmac(s, msg, n, out);
}

int bl_secret_proof_ok(const uint8_t *got, size_t got_len, const uint8_t want[BL_SECRET_PROOF_LEN])
{
    return got_len == BL_SECRET_PROOF_LEN && CRYPTO_memcmp(got, want, BL_SECRET_PROOF_LEN) == 0;
}

void bl_secret_passkey(const bl_secret *s, const uint8_t info_hash[20],
                       char out[BL_SECRET_PASSKEY_HEX + 1])
{
    static const char label[] = "bitlib-passkey-v1";
    uint8_t msg[sizeof label - 1 + 20], md[32];
    memcpy(msg, label, sizeof label - 1);
    memcpy(msg + sizeof label - 1, info_hash, 20);
    hmac(s, msg, sizeof msg, md);
    bl_hex(md, sizeof md, out);
}
