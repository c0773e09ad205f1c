/* depotproto: the wire messages between offload managers, depots and
 * pullers.
 *
 * Every message is a frame: a 4-byte big-endian length, then that many
 * bytes: one type byte and the body.  A frame is at most BL_DP_MAX_FRAME
 * bytes (a chunk and its header), so a reader never buffers more.  A
 * session starts with the depot's HELLO (a fresh nonce); the client answers
 * AUTH (its role, the offload id, its own nonce and an HMAC over both
 * nonces with the key of that role: the offload key to store or forward,
 * the offload's pull key to pull or ask status); the depot answers AUTH_OK
 * with its own HMAC, proving it holds the key too.  No key is ever sent.
 * Chunks are named by their index in the offload (stripe * M + position).
 * bl_dp_parse checks every length; a frame that fails it ends the session. */
#ifndef BL_OFFLOAD_DEPOTPROTO_H
#define BL_OFFLOAD_DEPOTPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "offload/okey.h"

#define BL_DP_VERSION 1
#define BL_DP_NONCE_LEN 32
#define BL_DP_MAX_CHUNK (16u << 20)
#define BL_DP_MAX_FRAME (BL_DP_MAX_CHUNK + 64)
#define BL_DP_MAX_TEXT 200      /* reasons and addresses */
#define BL_DP_MAX_PROBE (1u << 20)
#define BL_DP_MAX_LIST 65536    /* chunk indexes in one STATUS */

enum bl_dp_type {
    BL_DP_HELLO = 1,     /* depot: version, nonce */
    BL_DP_AUTH,          /* client: role, id, nonce, mac */
    BL_DP_AUTH_OK,       /* depot: mac */
    BL_DP_PUT,           /* index, sha256, data */
    BL_DP_ACK,           /* index: stored durably */
    BL_DP_REFUSE,        /* index, code, reason: not stored */
    BL_DP_GET,           /* index */
    BL_DP_DATA,          /* index, sha256, data */
    BL_DP_MISSING,       /* index, reason */
    BL_DP_STAT,          /* (empty) */
    BL_DP_STATUS,        /* chunks held, bytes used, bytes free, this offload's indexes */
    BL_DP_PROBE,         /* bytes to be thrown away: a bandwidth probe */
    BL_DP_PROBE_OK,      /* length received */
    BL_DP_FORWARD,       /* address: copy this offload's chunks to that depot */
    BL_DP_FORWARD_OK,    /* chunks forwarded */
    BL_DP_ERROR,         /* reason; the depot closes after it */
    BL_DP_TYPE_MAX
};

enum bl_dp_role { BL_DP_ROLE_STORE = 1, BL_DP_ROLE_PULL = 2 };

/* why a PUT was refused: the sender re-places the chunk elsewhere */
enum bl_dp_refuse { BL_DP_FULL = 1, BL_DP_BADSUM = 2, BL_DP_IOERR = 3 };

typedef struct bl_dp_msg {
    enum bl_dp_type type;
    uint8_t version, role, code;
    uint8_t id[BL_OFFLOAD_ID_LEN];
    uint8_t nonce[BL_DP_NONCE_LEN];
    uint8_t mac[BL_SHA256_LEN];
    uint8_t sha[BL_SHA256_LEN];
    uint32_t index;
    uint64_t held, used, free_bytes;
    const uint8_t *data;   /* PUT/DATA/PROBE bytes, REFUSE/MISSING/FORWARD/ERROR text */
    size_t len;
    const uint8_t *list;   /* STATUS: n big-endian u32 indexes */
    uint32_t n;
} bl_dp_msg;

/* Parse one frame's payload (type byte + body, the length prefix removed). */
int bl_dp_parse(const uint8_t *p, size_t len, bl_dp_msg *m, bl_err *err);
/* Index i of a STATUS list. */
uint32_t bl_dp_list_at(const bl_dp_msg *m, uint32_t i);

/* Encoders append one whole frame to out. */
void bl_dp_hello(bl_buf *out, const uint8_t nonce[BL_DP_NONCE_LEN]);
void bl_dp_auth(bl_buf *out, uint8_t role, const uint8_t id[BL_OFFLOAD_ID_LEN],
                const uint8_t nonce[BL_DP_NONCE_LEN], const uint8_t mac[BL_SHA256_LEN]);
void bl_dp_auth_ok(bl_buf *out, const uint8_t mac[BL_SHA256_LEN]);
void bl_dp_put(bl_buf *out, enum bl_dp_type type, uint32_t index, const uint8_t sha[BL_SHA256_LEN],
               const void *data, size_t len);   /* PUT or DATA */
void bl_dp_index(bl_buf *out, enum bl_dp_type type, uint32_t index);   /* ACK, GET */
void bl_dp_refuse(bl_buf *out, uint32_t index, uint8_t code, const char *reason);
void bl_dp_missing(bl_buf *out, uint32_t index, const char *reason);
void bl_dp_empty(bl_buf *out, enum bl_dp_type type);   /* STAT */
void bl_dp_status(bl_buf *out, uint64_t held, uint64_t used, uint64_t free_bytes,
                  const uint32_t *list, uint32_t n);
void bl_dp_probe(bl_buf *out, size_t len);
void bl_dp_text(bl_buf *out, enum bl_dp_type type, const char *text);  /* FORWARD, ERROR */

/* The MACs of the handshake.  The client's covers the role and id, so a
 * pull proof cannot be replayed as a store, nor for another offload. */
void bl_dp_client_mac(const bl_okey *key, uint8_t role, const uint8_t id[BL_OFFLOAD_ID_LEN],
                      const uint8_t depot_nonce[BL_DP_NONCE_LEN],
                      const uint8_t client_nonce[BL_DP_NONCE_LEN], uint8_t out[BL_SHA256_LEN]);
void bl_dp_depot_mac(const bl_okey *key, uint8_t role, const uint8_t id[BL_OFFLOAD_ID_LEN],
                     const uint8_t depot_nonce[BL_DP_NONCE_LEN],
                     const uint8_t client_nonce[BL_DP_NONCE_LEN], uint8_t out[BL_SHA256_LEN]);

/* Frames off a byte stream: if in holds a whole frame, sets *payload and
 * *plen to it and returns its total size (to consume after use); 0 if more
 * bytes are needed; -1 with err for a frame longer than BL_DP_MAX_FRAME. */
long bl_dp_frame(const bl_buf *in, const uint8_t **payload, size_t *plen, bl_err *err);

#endif
