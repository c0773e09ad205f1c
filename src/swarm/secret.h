/* secret: a private swarm's job secret and what is derived from it.
 *
 * A job secret is a file of 16 to 1024 bytes (a trailing newline is not
 * part of it), readable by its owner only; `bitlib launch` makes one per
 * job (32 random bytes as 64 hex digits).  Nothing derived from it reveals
 * it, and it never goes on the wire:
 *
 *   proof   = HMAC-SHA-256(secret, "bitlib-auth-v1" || info_hash ||
 *             sender peer id || receiver peer id ||
 *             sender nonce || receiver nonce)
 *   passkey = hex(HMAC-SHA-256(secret, "bitlib-passkey-v1" || info_hash))
 *
 * Each peer's BEP 10 handshake carries a fresh random nonce; each answers
 * the other's with its proof.  The receiver's nonce makes a recorded proof
 * useless on another connection (replay), and the peer ids in their order
 * make a proof the receiver sent useless when reflected back at it (a peer
 * never accepts its own peer id).  The tracker asks for the passkey, per
 * info-hash, before it hands out peers. */
#ifndef BL_SWARM_SECRET_H
#define BL_SWARM_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define BL_SECRET_MIN 16
#define BL_SECRET_MAX 1024
#define BL_SECRET_PROOF_LEN 32
#define BL_SECRET_PASSKEY_HEX 64

typedef struct bl_secret {
    uint8_t bytes[BL_SECRET_MAX];
    size_t len;
} bl_secret;

/* Read a secret file.  Refused: unreadable, too short or too long, not a
 * regular file, or readable by group or others (err says which and how to
 * fix it). */
int bl_secret_load(bl_secret *s, const char *path, bl_err *err);
/* Make a new secret file (mode 0600, never overwriting one). */
int bl_secret_generate(const char *path, bl_err *err);

void bl_secret_proof(const bl_secret *s, const uint8_t info_hash[20],
                     const uint8_t sender_id[20], const uint8_t receiver_id[20],
                     const uint8_t *sender_nonce, const uint8_t *receiver_nonce, size_t nonce_len,
                     uint8_t out[BL_SECRET_PROOF_LEN]);
/* Constant-time comparison of a received proof with the expected one. */
int bl_secret_proof_ok(const uint8_t *got, size_t got_len,
                       const uint8_t want[BL_SECRET_PROOF_LEN]);
/* NUL-terminated, BL_SECRET_PASSKEY_HEX lower-case hex digits. */
void bl_secret_passkey(const bl_secret *s, const uint8_t info_hash[20],
                       char out[BL_SECRET_PASSKEY_HEX + 1]);

#endif
