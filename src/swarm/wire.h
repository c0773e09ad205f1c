/* wire: the BitTorrent peer wire codec (BEP 3, 6, 10, 11), bytes only.
 *
 * No sockets, no clocks, no state: the connection code feeds received bytes
 * to the decoders and appends encoded messages to a bl_buf.  Every decoder
 * assumes the bytes come from a hostile peer: each length is bounded before
 * anything waits for it, fixed-size messages must have exactly their size,
 * piece indexes, offsets and lengths are checked against the torrent's
 * geometry, and a bitfield must have exactly the right size with its spare
 * bits zero.  Decoded messages point into the caller's buffer (a piece
 * block is never copied), so they are valid until the caller consumes
 * those bytes.
 *
 * Limits (bl_wire_limits, defaults in bl_wire_limits_default):
 *   piece block received   <= max_block    (16 KiB: what we request)
 *   request/cancel/reject  1..max_request  (128 KiB, the common cap)
 *   extended payload       <= max_extended (1 MiB; ext handshakes and PEX
 *                                           are far smaller)
 *   unknown message ids    <= max_extended (reported, for the caller to skip)
 *   bitfield               exactly ceil(num_pieces / 8) bytes
 *   length prefix          never above the largest of the above + header,
 *                          refused as soon as its 4 bytes arrive. */
#ifndef BL_SWARM_WIRE_H
#define BL_SWARM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- handshake (BEP 3) ---- */

#define BL_WIRE_HANDSHAKE_LEN 68
#define BL_WIRE_PEER_ID_PREFIX "-BL0100-"

/* Capabilities announced in the reserved bytes. */
enum {
    BL_WIRE_CAP_EXTENSION = 1u << 0,  /* BEP 10: reserved[5] & 0x10 */
    BL_WIRE_CAP_FAST = 1u << 1,       /* BEP 6:  reserved[7] & 0x04 */
    BL_WIRE_CAP_DHT = 1u << 2,        /* BEP 5:  reserved[7] & 0x01 */
};

typedef struct bl_handshake {
    uint8_t reserved[8];
    uint8_t info_hash[20];
    uint8_t peer_id[20];
    unsigned caps;                    /* BL_WIRE_CAP_* decoded from reserved */
} bl_handshake;

/* Append the 68-byte handshake announcing caps (BL_WIRE_CAP_*). */
void bl_wire_handshake_encode(bl_buf *out, const uint8_t info_hash[20], const uint8_t peer_id[20],
                              unsigned caps);
/* Decode a handshake from the front of p.  Returns BL_WIRE_HANDSHAKE_LEN
 * when a whole valid handshake was read, 0 if more bytes are needed (the
 * bytes so far are a valid beginning), or -1 with err when the bytes can
 * never be a BitTorrent handshake (checked from the first byte on, so
 * garbage is refused without waiting for 68 bytes). */
int bl_wire_handshake_decode(const uint8_t *p, size_t len, bl_handshake *hs, bl_err *err);
/* caps as the reserved bytes say. */
unsigned bl_wire_caps_from_reserved(const uint8_t reserved[8]);
/* "-BL0100-" followed by 12 random bytes (getrandom). 0 or -1. */
int bl_wire_peer_id(uint8_t out[20], bl_err *err);

/* ---- messages ---- */

enum bl_msg_type {
    BL_MSG_CHOKE = 0,
    BL_MSG_UNCHOKE = 1,
    BL_MSG_INTERESTED = 2,
    BL_MSG_NOT_INTERESTED = 3,
    BL_MSG_HAVE = 4,
    BL_MSG_BITFIELD = 5,
    BL_MSG_REQUEST = 6,
    BL_MSG_PIECE = 7,
    BL_MSG_CANCEL = 8,
    BL_MSG_PORT = 9,
    BL_MSG_SUGGEST = 0x0D,            /* BEP 6 */
    BL_MSG_HAVE_ALL = 0x0E,
    BL_MSG_HAVE_NONE = 0x0F,
    BL_MSG_REJECT = 0x10,
    BL_MSG_ALLOWED_FAST = 0x11,
    BL_MSG_EXTENDED = 20,             /* BEP 10 */
    BL_MSG_KEEPALIVE = 0x100,         /* zero-length message, no id byte */
    BL_MSG_UNKNOWN = 0x101,           /* other id (in raw_id); skip it */
};

typedef struct bl_msg {
    enum bl_msg_type type;
    uint8_t raw_id;                   /* the id byte (BL_MSG_UNKNOWN, and all but keep-alive) */
    uint32_t index;                   /* have, request, piece, cancel, suggest, reject, allowed_fast */
    uint32_t begin;                   /* request, piece, cancel, reject */
    uint32_t length;                  /* request, cancel, reject; piece: data_len */
    uint16_t port;                    /* port (BEP 5 DHT port) */
    uint8_t ext_id;                   /* extended: 0 = extension handshake */
    const uint8_t *data;              /* bitfield bytes, piece block, extended or unknown payload */
    size_t data_len;
} bl_msg;

/* The torrent's shape, against which indexes and offsets are checked.
 * num_pieces >= 1; last_piece_length in 1..piece_length. */
typedef struct bl_wire_geometry {
    uint32_t num_pieces;
    uint32_t piece_length;
    uint32_t last_piece_length;
} bl_wire_geometry;

typedef struct bl_wire_limits {
    uint32_t max_block;               /* piece message block */
    uint32_t max_request;             /* request, cancel, reject length */
    uint32_t max_extended;            /* extended payload (after the ext id byte) */
} bl_wire_limits;

#define BL_WIRE_BLOCK (16u * 1024)
extern const bl_wire_limits bl_wire_limits_default;   /* 16 KiB, 128 KiB, 1 MiB */

enum { BL_WIRE_ERROR = -1, BL_WIRE_NEED_MORE = 0, BL_WIRE_MESSAGE = 1 };

/* Decode one message from the front of p[0..len).  lim may be NULL for the
 * defaults.  Returns:
 *   BL_WIRE_MESSAGE:   *msg filled, *used = its total length (prefix
 *                      included): consume that many bytes;
 *   BL_WIRE_NEED_MORE: *used = total bytes the message needs if the length
 *                      prefix has arrived, else 4;
 *   BL_WIRE_ERROR:     err says what is wrong; drop the peer.
 * Type-level policy (fast messages from a peer without BEP 6, extended
 * messages without BEP 10, piece blocks nobody requested) is the caller's. */
int bl_wire_decode(const uint8_t *p, size_t len, const bl_wire_geometry *g,
                   const bl_wire_limits *lim, bl_msg *msg, size_t *used, bl_err *err);

/* Checks the geometry itself: 0 or -1 with err. */
int bl_wire_geometry_check(const bl_wire_geometry *g, bl_err *err);
/* Length of piece index under g (0 if index is out of range). */
uint32_t bl_wire_piece_size(const bl_wire_geometry *g, uint32_t index);

/* Encoders append one whole message (length prefix included). */
void bl_wire_put_keepalive(bl_buf *b);
/* choke, unchoke, interested, not_interested, have_all, have_none */
void bl_wire_put_simple(bl_buf *b, enum bl_msg_type type);
/* have, suggest, allowed_fast */
void bl_wire_put_index(bl_buf *b, enum bl_msg_type type, uint32_t index);
/* request, cancel, reject */
void bl_wire_put_request(bl_buf *b, enum bl_msg_type type, uint32_t index, uint32_t begin,
                         uint32_t length);
void bl_wire_put_bitfield(bl_buf *b, const uint8_t *bits, size_t nbytes);
void bl_wire_put_piece(bl_buf *b, uint32_t index, uint32_t begin, const void *block, uint32_t len);
/* Only the 13-byte header of a piece message carrying len bytes, for
 * callers that send the block itself from elsewhere (writev, sendfile). */
void bl_wire_put_piece_header(bl_buf *b, uint32_t index, uint32_t begin, uint32_t len);
void bl_wire_put_port(bl_buf *b, uint16_t port);
void bl_wire_put_extended(bl_buf *b, uint8_t ext_id, const void *payload, size_t len);
/* Any decoded message back to bytes (BL_MSG_UNKNOWN included). */
void bl_wire_encode(bl_buf *b, const bl_msg *msg);

const char *bl_msg_type_name(enum bl_msg_type t);

/* ---- BEP 10 extension handshake (extended message id 0) ---- */

/* The ids we ask peers to use when they send us extension messages. */
enum { BL_EXT_HANDSHAKE_ID = 0, BL_EXT_LOCAL_UT_PEX = 1, BL_EXT_LOCAL_UT_METADATA = 2,
       BL_EXT_LOCAL_BITLIB_INTENT = 3, BL_EXT_LOCAL_BITLIB_AUTH = 4 };

/* bitlib_intent (cooperative bitlib peers only): "I am fetching these pieces
 * from a seed".  Payload: 1..BL_INTENT_MAX piece indexes, 4 bytes each, big
 * endian.  Receivers count those pieces as soon-available from the sender
 * and leave the seed alone for them. */
#define BL_EXT_BITLIB_INTENT "bitlib_intent"
#define BL_INTENT_MAX 1024

#define BL_EXT_MAX_NAMES 32           /* "m" entries kept (more are ignored) */
#define BL_EXT_NAME_MAX 32            /* longer names are ignored */
#define BL_EXT_CLIENT_MAX 64          /* "v" is truncated to this */

typedef struct bl_ext_name {
    char name[BL_EXT_NAME_MAX + 1];
    uint8_t id;                       /* 0: the sender disabled it */
} bl_ext_name;

/* The keys of a handshake dict we understand, as bits of bl_ext_handshake.keys:
 * which ones a message carried (with a value we accept), or for a peer's
 * accumulated state, which ones any of its handshakes carried.  A new key is
 * one more bit, field, decode line, merge line and encode line. */
enum {
    BL_EXT_KEY_M = 1u << 0,             /* "m" (a dict, even empty) */
    BL_EXT_KEY_P = 1u << 1,             /* "p" */
    BL_EXT_KEY_V = 1u << 2,             /* "v" */
    BL_EXT_KEY_REQQ = 1u << 3,          /* "reqq" */
    BL_EXT_KEY_YOURIP = 1u << 4,        /* "yourip" */
    BL_EXT_KEY_IPV4 = 1u << 5,          /* "ipv4" */
    BL_EXT_KEY_IPV6 = 1u << 6,          /* "ipv6" */
    BL_EXT_KEY_METADATA_SIZE = 1u << 7, /* "metadata_size" */
    BL_EXT_KEY_UPLOAD_ONLY = 1u << 8,   /* "upload_only" */
    BL_EXT_KEY_BITLIB_COOP = 1u << 9,   /* "bitlib_coop" */
    BL_EXT_KEY_BITLIB_NONCE = 1u << 10, /* "bitlib_nonce" */
};

/* Private swarms (swarm/secret.h): each side's handshake carries a fresh
 * nonce of this many bytes; each then proves it holds the job secret in a
 * bitlib_auth message (BL_SECRET_PROOF_LEN bytes) before anything else. */
#define BL_EXT_NONCE_LEN 16
#define BL_EXT_BITLIB_AUTH "bitlib_auth"

typedef struct bl_ext_handshake {
    unsigned keys;                    /* BL_EXT_KEY_* present (see above) */
    bl_ext_name m[BL_EXT_MAX_NAMES];
    size_t n_m;
    bool has_port;
    uint16_t port;                    /* "p": the sender's listen port */
    char client[BL_EXT_CLIENT_MAX + 1]; /* "v", raw bytes (log with bl_log_safe) */
    uint32_t reqq;                    /* "reqq": max outstanding requests, 0 = unsaid */
    uint8_t yourip[16];               /* "yourip": how the sender sees us */
    uint8_t yourip_len;               /* 0, 4 or 16 */
    uint8_t ipv4[4];                  /* "ipv4": the sender's own address */
    bool has_ipv4;
    uint8_t ipv6[16];                 /* "ipv6" */
    bool has_ipv6;
    int64_t metadata_size;            /* BEP 9 "metadata_size", 0 = unsaid */
    bool upload_only;                 /* BEP 21 "upload_only" */
    bool bitlib_coop;                 /* "bitlib_coop" = 1: a bitlib peer in cooperative mode */
    uint8_t nonce[BL_EXT_NONCE_LEN];  /* "bitlib_nonce": a private swarm's challenge */
    bool has_nonce;
} bl_ext_handshake;

/* Append the bencoded dict (payload only: wrap it with
 * bl_wire_put_extended(b, BL_EXT_HANDSHAKE_ID, ...)).  Entries of m with
 * empty names are skipped; keys come out sorted. */
void bl_ext_handshake_encode(bl_buf *b, const bl_ext_handshake *hs);
/* Decode one extension handshake payload (ext_id 0) on its own: hs holds
 * what that message says, hs->keys which keys it carried ("m" entries as
 * sent, id 0 included).  Unknown keys and malformed optional values are
 * ignored; a payload that is not a bencoded dictionary is an error. */
int bl_ext_handshake_decode(const uint8_t *p, size_t len, bl_ext_handshake *hs, bl_err *err);
/* BEP 10: a peer may send the handshake again, carrying only what changed.
 * Merge upd (one decoded message) into st (all that peer said so far; zero
 * it before the first): every key upd carried replaces st's value, "m"
 * entries are merged name by name (an id of 0 disables that one extension
 * and leaves the others alone), absent keys keep their values.  A new name
 * when st's "m" is full takes a disabled entry's slot, or is dropped. */
void bl_ext_handshake_merge(bl_ext_handshake *st, const bl_ext_handshake *upd);
/* Decode payload p[0..len) and merge it into st.  *carried (may be NULL)
 * gets the keys this message carried.  On error st is left as it was. */
int bl_ext_handshake_update(bl_ext_handshake *st, const uint8_t *p, size_t len, unsigned *carried,
                            bl_err *err);
/* The id the sender wants for extension name, 0 if absent or disabled. */
uint8_t bl_ext_handshake_id(const bl_ext_handshake *hs, const char *name);
/* Add or replace an "m" entry; -1 when full or the name is too long. */
int bl_ext_handshake_set(bl_ext_handshake *hs, const char *name, uint8_t id);

/* ---- BEP 11 peer exchange (ut_pex) ---- */

/* BEP 11 asks senders to put at most 50 added and 50 dropped contacts in
 * one message (IPv4 and IPv6 together).  We send at most that, and accept
 * up to twice that from peers that round differently. */
#define BL_PEX_MAX_SEND 50
#define BL_PEX_MAX_RECV 100

enum {
    BL_PEX_F_ENCRYPTION = 0x01,
    BL_PEX_F_SEED = 0x02,
    BL_PEX_F_UTP = 0x04,
    BL_PEX_F_HOLEPUNCH = 0x08,
    BL_PEX_F_REACHABLE = 0x10,
};

typedef struct bl_pex_peer {
    uint8_t family;                   /* AF_INET or AF_INET6 */
    uint8_t flags;                    /* BL_PEX_F_* (added only) */
    uint16_t port;                    /* host order */
    uint8_t ip[16];                   /* 4 or 16 bytes used */
} bl_pex_peer;

typedef struct bl_pex {
    bl_pex_peer added[BL_PEX_MAX_RECV];
    size_t n_added;
    bl_pex_peer dropped[BL_PEX_MAX_RECV];
    size_t n_dropped;
} bl_pex;

/* Append the bencoded ut_pex dict.  -1 (nothing appended) if more than
 * BL_PEX_MAX_SEND added or dropped peers are given: split them. */
int bl_pex_encode(bl_buf *b, const bl_pex *pex, bl_err *err);
/* Decode a ut_pex payload.  Errors: not a dict, compact lists whose length
 * is not a multiple of 6 / 18, more than BL_PEX_MAX_RECV added or dropped.
 * Flags whose length does not match their list are ignored.  Contacts are
 * kept as sent (port 0 included): the caller decides whom to dial. */
int bl_pex_decode(const uint8_t *p, size_t len, bl_pex *pex, bl_err *err);
/* sockaddr_in / sockaddr_in6 for a contact; returns its length. */
socklen_t bl_pex_peer_sockaddr(const bl_pex_peer *pp, struct sockaddr_storage *ss);
/* The reverse; -1 if ss is neither IPv4 nor IPv6. */
int bl_pex_peer_from_sockaddr(bl_pex_peer *pp, const struct sockaddr *sa, uint8_t flags);

#endif
