/* okey: the offload's secrets and digests (OpenSSL).
 *
 * The offload key is a secret the user shares with the center's manager
 * and with the depots the user trusts: it lets a sender store on a depot
 * and signs manifests.  Each offload also has a pull key, derived from the
 * offload key and the offload's id, so a depot can check a puller without
 * storing anything, and a user holding only the manifest (which carries the
 * pull key) can pull that one offload and nothing else.  No key ever goes
 * on the wire: both sides prove knowledge with HMAC-SHA-256 over nonces. */
#ifndef BL_OFFLOAD_OKEY_H
#define BL_OFFLOAD_OKEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define BL_OKEY_MAX 256
#define BL_OKEY_MIN 16
#define BL_SHA256_LEN 32
#define BL_OFFLOAD_ID_LEN 16

typedef struct bl_okey {
    uint8_t bytes[BL_OKEY_MAX];
    size_t len;
} bl_okey;

/* Read a key file: its bytes less trailing white space, 16..256 bytes.
 * The file must not be readable by group or others. */
int bl_okey_load(bl_okey *key, const char *path, bl_err *err);

/* The pull key of offload id (HMAC(offload key, label || id)). */
void bl_okey_pull(const bl_okey *key, const uint8_t id[BL_OFFLOAD_ID_LEN], bl_okey *pull);

/* HMAC-SHA-256 over the concatenation of n parts (ptr, len pairs). */
void bl_hmac(const bl_okey *key, uint8_t out[BL_SHA256_LEN], size_t n, const void *const *ptr,
             const size_t *len);
void bl_sha256(const void *data, size_t len, uint8_t out[BL_SHA256_LEN]);
/* SHA-256 of the first len bytes of fd (pread: the offset is untouched). */
int bl_sha256_fd(int fd, uint64_t len, uint8_t out[BL_SHA256_LEN], bl_err *err);
/* Constant-time comparison of two digests. */
int bl_digest_eq(const uint8_t *a, const uint8_t *b, size_t n);
/* Fill buf with random bytes (RAND_bytes); 0 or -1 with err. */
int bl_random(void *buf, size_t n, bl_err *err);

#endif
