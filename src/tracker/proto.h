/* proto: what the tracker protocols (BEP 3 HTTP, BEP 15 UDP, BEP 23 compact
 * peers) share, on both the tracker side and the client side.
 *
 * A peer address is a small value type (family 4 or 6, raw address bytes,
 * port in host order) that converts to and from sockaddr and the compact
 * 6-byte (IPv4) and 18-byte (IPv6) forms.  IPv4-mapped IPv6 addresses are
 * folded to IPv4 so a dual-stack socket and an IPv4 socket see one peer.
 * An announce is the decoded request, whichever transport carried it. */
#ifndef BL_TRACKER_PROTO_H
#define BL_TRACKER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BL_TRK_HASH_LEN 20
#define BL_TRK_COMPACT4 6
#define BL_TRK_COMPACT6 18

/* Numbering is BEP 15's, so the UDP codec maps it one to one. */
enum bl_trk_event { BL_TRK_EV_NONE = 0, BL_TRK_EV_COMPLETED = 1, BL_TRK_EV_STARTED = 2,
                    BL_TRK_EV_STOPPED = 3 };

typedef struct bl_trk_addr {
    uint8_t family;    /* 4 or 6; 0 = unset */
    uint8_t ip[16];    /* IPv4 uses the first 4 bytes */
    uint16_t port;     /* host order */
} bl_trk_addr;

#define BL_TRK_PASSKEY_MAX 64

typedef struct bl_trk_announce {
    uint8_t info_hash[BL_TRK_HASH_LEN];
    uint8_t peer_id[20];
    bl_trk_addr addr;      /* port always; ip only if has_ip */
    bool has_ip;           /* the request named a literal address */
    uint64_t uploaded, downloaded, left;
    enum bl_trk_event event;
    int32_t numwant;       /* < 0: tracker's default */
    uint32_t key;
    bool compact;          /* HTTP only; UDP is always compact */
    bool no_peer_id;
    /* a private swarm's passkey (swarm/secret.h): HTTP "passkey=", UDP in
     * BEP 41 URL data ("?passkey=..."); "" when not given */
    char passkey[BL_TRK_PASSKEY_MAX + 1];
} bl_trk_announce;

/* "", "completed", "started", "stopped". */
const char *bl_trk_event_name(enum bl_trk_event ev);

/* From a socket address (AF_INET or AF_INET6); -1 for other families. */
int bl_trk_addr_from_sockaddr(bl_trk_addr *a, const struct sockaddr *sa);
/* To a sockaddr_storage; returns the length to pass to connect/sendto. */
socklen_t bl_trk_addr_to_sockaddr(const bl_trk_addr *a, struct sockaddr_storage *ss);
/* A literal IPv4 or IPv6 address (no name lookup); s need not be
 * NUL-terminated.  Leaves the port alone.  -1 if not a literal. */
int bl_trk_addr_parse_ip(bl_trk_addr *a, const char *s, size_t n);
/* Compact form: writes 6 or 18 bytes, returns how many (0 if unset). */
size_t bl_trk_addr_compact(const bl_trk_addr *a, uint8_t out[BL_TRK_COMPACT6]);
/* From compact bytes of the given family (4: 6 bytes, 6: 18 bytes). */
void bl_trk_addr_from_compact(bl_trk_addr *a, const uint8_t *p, int family);
bool bl_trk_addr_eq(const bl_trk_addr *x, const bl_trk_addr *y);
/* "1.2.3.4:80" or "[::1]:80" into out (64 bytes is enough). */
char *bl_trk_addr_str(const bl_trk_addr *a, char *out, size_t outsz);
/* The IP alone, for the dictionary peer model ("ip" key). */
char *bl_trk_addr_ipstr(const bl_trk_addr *a, char *out, size_t outsz);

#endif
