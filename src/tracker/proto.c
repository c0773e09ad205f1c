#include "tracker/proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

const char *bl_trk_event_name(enum bl_trk_event ev)
{
    switch (ev) {
    case BL_TRK_EV_COMPLETED: return "completed";
    case BL_TRK_EV_STARTED: return "started";
    case BL_TRK_EV_STOPPED: return "stopped";
    default: return "";
    }
}

int bl_trk_addr_from_sockaddr(bl_trk_addr *a, const struct sockaddr *sa)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = 4;
        memcpy(a->ip, &s4->sin_addr, 4);
        a->port = ntohs(s4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (!memcmp(s6->sin6_addr.s6_addr, v4mapped, 12)) {
            a->family = 4;
            memcpy(a->ip, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            a->family = 6;
            memcpy(a->ip, s6->sin6_addr.s6_addr, 16);
        }
        a->port = ntohs(s6->sin6_port);
        return 0;
    }
    return -1;
}

socklen_t bl_trk_addr_to_sockaddr(const bl_trk_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a->ip, 4);
        s4->sin_port = htons(a->port);
        return sizeof *s4;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    memcpy(s6->sin6_addr.s6_addr, a->ip, 16);
    s6->sin6_port = htons(a->port);
    return sizeof *s6;
}

int bl_trk_addr_parse_ip(bl_trk_addr *a, const char *s, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof tmp || memchr(s, '\0', n))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    uint8_t raw[16];
    if (inet_pton(AF_INET, tmp, raw) == 1) {
        a->family = 4;
        memset(a->ip, 0, sizeof a->ip);
        memcpy(a->ip, raw, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, raw) == 1) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
        memcpy(s6.sin6_addr.s6_addr, raw, 16);
        uint16_t port = a->port;
        bl_trk_addr_from_sockaddr(a, (const struct sockaddr *)&s6);
        a->port = port;
        return 0;
    }
    return -1;
}

size_t bl_trk_addr_compact(const bl_trk_addr *a, uint8_t out[BL_TRK_COMPACT6])
{
    size_t iplen = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
    if (!iplen)
        return 0;
    memcpy(out, a->ip, iplen);
    out[iplen] = (uint8_t)(a->port >> 8);
    out[iplen + 1] = (uint8_t)a->port;
    return iplen + 2;
}

void bl_trk_addr_from_compact(bl_trk_addr *a, const uint8_t *p, int family)
{
    size_t iplen = family == 4 ? 4 : 16;
    memset(a, 0, sizeof *a);
    a->family = (uint8_t)family;
    memcpy(a->ip, p, iplen);
    a->port = (uint16_t)(p[iplen] << 8 | p[iplen + 1]);
}

bool bl_trk_addr_eq(const bl_trk_addr *x, const bl_trk_addr *y)
{
    size_t iplen = x->family == 4 ? 4 : 16;
    return x->family == y->family && x->port == y->port && !memcmp(x->ip, y->ip, iplen);
}

char *bl_trk_addr_ipstr(const bl_trk_addr *a, char *out, size_t outsz)
{
    if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, out, (socklen_t)outsz))
        snprintf(out, outsz, "?");
    return out;
}

char *bl_trk_addr_str(const bl_trk_addr *a, char *out, size_t outsz)
{
    char ip[INET6_ADDRSTRLEN];
    bl_trk_addr_ipstr(a, ip, sizeof ip);
    snprintf(out, outsz, a->family == 6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)a->port);
    return out;
}
