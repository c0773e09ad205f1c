/* sign: Ed25519 signatures on description files, and the one trust check.
 *
 * A signature lives outside the info dictionary, in the top-level key
 * "bitlib signature", so the info-hash is unchanged and stock clients read
 * the file as before (docs/signing.md):
 *
 *   "bitlib signature": {"algorithm": "ed25519",
 *                        "info hash": 20 bytes, "job digest": 32 bytes,
 *                        "key": 32 bytes (raw Ed25519 public key),
 *                        "signature": 64 bytes, "version": 1}
 *
 * The job digest is SHA-256 of the canonical bencoding of the top-level
 * "bitlib" dictionary (mount point, prefetch list, env; "de" when absent);
 * the signature is over "bitlib-signature-v1" NUL, the info hash and the job
 * digest.  The info dictionary carries modes, mtimes, directories and
 * symlink targets (info.bitlib), so the info-hash covers what a mount shows.
 * Trackers, comment and dates are not covered (bitlib launch rewrites the
 * trackers; they cannot change a byte that is mounted or run).
 *
 * bl_trust_check is the check every front end (mount, fetch, seed, run,
 * verify) makes; with no trusted keys it accepts everything. */
#ifndef BL_META_SIGN_H
#define BL_META_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "meta/metainfo.h"

#define BL_SIGN_KEY_LEN 32
#define BL_SIGN_SIG_LEN 64
#define BL_SIGN_DIGEST_LEN 32
#define BL_SIGN_FPR_LEN 25 /* "ed25519:" + 16 hex digits + NUL */
#define BL_TRUST_MAX_KEYS 256
/* the site's trusted keys; $BITLIB_TRUST_DIR replaces it ("" for none) */
#define BL_TRUST_SITE_DIR "/etc/bitlib/trusted.d"

/* A private signing key (opaque: an OpenSSL EVP_PKEY). */
typedef struct bl_signkey bl_signkey;

/* Write a new key pair: path (PKCS#8 PEM, mode 0600, never overwritten) and
 * path.pub (SubjectPublicKeyInfo PEM, 0644).  fpr gets the fingerprint. */
int bl_sign_keygen(const char *path, char fpr[BL_SIGN_FPR_LEN], bl_err *err);
bl_signkey *bl_signkey_load(const char *path, bl_err *err);
void bl_signkey_free(bl_signkey *k);
void bl_signkey_fingerprint(const bl_signkey *k, char fpr[BL_SIGN_FPR_LEN]);

/* "ed25519:" and the first 16 hex digits of SHA-256 of the raw key. */
void bl_sign_fingerprint(const uint8_t key[BL_SIGN_KEY_LEN], char fpr[BL_SIGN_FPR_LEN]);

/* Sign a description in memory: out gets raw with its "bitlib signature"
 * replaced (or added); every other byte is kept, so the info-hash is too. */
int bl_sign_desc(const uint8_t *raw, size_t len, const bl_signkey *k, bl_buf *out,
                 bl_err *err);

/* The signature block of a description, as read (not yet checked). */
typedef struct bl_sigblock {
    bool present;
    uint8_t info_hash[20];
    uint8_t job_digest[BL_SIGN_DIGEST_LEN];
    uint8_t key[BL_SIGN_KEY_LEN];
    uint8_t sig[BL_SIGN_SIG_LEN];
} bl_sigblock;

/* Read the signature block and compute the actual job digest of raw (a
 * whole description).  A malformed block is an error naming the field. */
int bl_sign_read(const uint8_t *raw, size_t len, bl_sigblock *sb,
                 uint8_t job_digest[BL_SIGN_DIGEST_LEN], bl_err *err);

/* Trusted public keys. */
typedef struct bl_trust {
    uint8_t keys[BL_TRUST_MAX_KEYS][BL_SIGN_KEY_LEN];
    size_t n;
    char where[256]; /* the files or directories they came from, for messages */
} bl_trust;

void bl_trust_init(bl_trust *t);
/* Add a .pub file, or every *.pub file of a directory (an empty directory or
 * a malformed key is an error: a node meant to check signatures fails
 * closed). */
int bl_trust_add(bl_trust *t, const char *path, bl_err *err);
/* The site default: $BITLIB_TRUST_DIR if set, else BL_TRUST_SITE_DIR, when
 * that directory exists (then it must hold at least one key). */
int bl_trust_add_site(bl_trust *t, bl_err *err);
/* Which check a description fails. */
enum bl_trust_result {
    BL_TRUST_OK = 0,
    BL_TRUST_UNSIGNED,
    BL_TRUST_UNTRUSTED_KEY,
    BL_TRUST_BAD_SIGNATURE,    /* invalid, malformed, or info dict altered */
    BL_TRUST_JOB_ALTERED,      /* mount point, prefetch list or env altered */
};
/* 0 if t has no keys or mi is signed by one of them over its info-hash and
 * job section; else -1 with one line in err saying which check failed,
 * *why (may be NULL) set to the result. */
int bl_trust_check(const bl_trust *t, const bl_metainfo *mi, enum bl_trust_result *why,
                   bl_err *err);

#endif
