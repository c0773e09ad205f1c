#include "core/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Hostnames are at most 253 bytes; anything longer is a typo or an attack. */
#define MAX_HOST 255

static int parse_port(const char *p, const char *whole, uint16_t *port, bl_err *err)
{
    if (*p == '\0')
        return bl_fail(err, "address '%s': missing port after ':'", whole);
    unsigned long v = 0;
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9')
            return bl_fail(err, "address '%s': port must be a decimal number", whole);
        v = v * 10 + (unsigned long)(*c - '0');
        if (v > 65535)
            return bl_fail(err, "address '%s': port above 65535", whole);
    }
    *port = (uint16_t)v;
    return 0;
}

int bl_net_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, bl_err *err)
{
    if (!s || !*s)
        return bl_fail(err, "address is empty: expected host:port");
    char host[MAX_HOST + 1];
    const char *port_str;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return bl_fail(err, "address '%s': missing ']' after IPv6 address", s);
        if (close[1] != ':')
            return bl_fail(err, "address '%s': expected ':port' after ']'", s);
        size_t n = (size_t)(close - s - 1);
        if (n == 0 || n > MAX_HOST)
            return bl_fail(err, "address '%s': bad IPv6 address length", s);
        memcpy(host, s + 1, n);
        host[n] = '\0';
        port_str = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return bl_fail(err, "address '%s': expected host:port", s);
        if (memchr(s, ':', (size_t)(colon - s)))
            return bl_fail(err, "address '%s': write IPv6 addresses as [addr]:port", s);
        size_t n = (size_t)(colon - s);
        if (n == 0)
            return bl_fail(err, "address '%s': missing host before ':'", s);
        if (n > MAX_HOST)
            return bl_fail(err, "address '%s': host name too long", s);
        memcpy(host, s, n);
        host[n] = '\0';
        port_str = colon + 1;
    }
    uint16_t port = 0;
    if (parse_port(port_str, s, &port, err) < 0)
        return -1;

    /* getaddrinfo takes inet_aton shorthands ("127.1", "10.1.2"): a host
     * made of digits and dots must be a full dotted quad. */
    if (host[strspn(host, "0123456789.")] == '\0') {
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1)
            return bl_fail(err, "address '%s': '%s' is not a valid IPv4 address", s, host);
    }

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = s[0] == '[' ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  /* one answer per address, not three */
    if (s[0] == '[')
        hints.ai_flags = AI_NUMERICHOST;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        const char *why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        return bl_fail(err, "address '%s': cannot resolve '%s': %s", s, host, why);
    }
    const struct addrinfo *ai = res;
    while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        ai = ai->ai_next;
    if (!ai || ai->ai_addrlen > sizeof *ss) {
        freeaddrinfo(res);
        return bl_fail(err, "address '%s': '%s' has no IPv4 or IPv6 address", s, host);
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(res);
    bl_net_set_port((struct sockaddr *)ss, port);
    return 0;
}

const char *bl_net_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN + 16];
    if (size == 0)
        return buf;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        /* getnameinfo adds "%scope" for link-local addresses. */
        if (getnameinfo(sa, len, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) != 0)
            snprintf(ip, sizeof ip, "?");
        snprintf(buf, size, "[%s]:%u", ip, bl_net_port(sa));
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}

uint16_t bl_net_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void bl_net_set_port(struct sockaddr *sa, uint16_t port)
{
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons(port);
    else if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

bool bl_net_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

bool bl_net_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

static int fail_errno(bl_err *err, const char *what, const struct sockaddr *sa, socklen_t len, int e)
{
    if (sa) {
        char a[BL_NET_ADDRSTRLEN];
        return bl_fail(err, "%s %s: %s", what, bl_net_format(sa, len, a, sizeof a), strerror(e));
    }
    return bl_fail(err, "%s: %s", what, strerror(e));
}

static int new_socket(const struct sockaddr *sa, socklen_t len, int type, bl_err *err)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return bl_fail(err, "socket: unsupported address family %d", sa->sa_family);
    int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(err, "socket for", sa, len, errno);
    return fd;
}

int bl_net_tcp_listen(const struct sockaddr *sa, socklen_t len, int backlog, bl_err *err)
{
    int fd = new_socket(sa, len, SOCK_STREAM, err);
    if (fd < 0)
        return -1;
    int yes = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) < 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, "SO_REUSEADDR on", sa, len, e);
    }
    if (bind(fd, sa, len) < 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, "bind TCP", sa, len, e);
    }
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, "listen on", sa, len, e);
    }
    return fd;
}

int bl_net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len, bl_err *err)
{
    struct sockaddr_storage tmp;
    socklen_t tlen = sizeof tmp;
    int fd = accept4(lfd, (struct sockaddr *)&tmp, &tlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
            errno == EPROTO)
            return BL_NET_AGAIN;
        return fail_errno(err, "accept", NULL, 0, errno);
    }
    if (peer)
        memcpy(peer, &tmp, sizeof tmp);
    if (peer_len)
        *peer_len = tlen;
    return fd;
}

int bl_net_tcp_connect(const struct sockaddr *sa, socklen_t len, bool *in_progress, bl_err *err)
{
    int fd = new_socket(sa, len, SOCK_STREAM, err);
    if (fd < 0)
        return -1;
    bool pending = false;
    if (connect(fd, sa, len) < 0) {
        if (errno == EINPROGRESS || errno == EINTR) {
            pending = true;
        } else {
            int e = errno;
            close(fd);
            return fail_errno(err, "connect to", sa, len, e);
        }
    }
    if (in_progress)
        *in_progress = pending;
    return fd;
}

int bl_net_connect_result(int fd, bl_err *err)
{
    int soerr = 0;
    socklen_t l = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0)
        return fail_errno(err, "connect: SO_ERROR", NULL, 0, errno);
    if (soerr != 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        /* Name the peer when the kernel still knows it (not after refusal). */
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
            return fail_errno(err, "connect to", (struct sockaddr *)&ss, sl, soerr);
        return fail_errno(err, "connect", NULL, 0, soerr);
    }
    return 0;
}

int bl_net_udp_bind(const struct sockaddr *sa, socklen_t len, bl_err *err)
{
    int fd = new_socket(sa, len, SOCK_DGRAM, err);
    if (fd < 0)
        return -1;
    if (bind(fd, sa, len) < 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, "bind UDP", sa, len, e);
    }
    return fd;
}

int bl_net_set_nodelay(int fd, bool on, bl_err *err)
{
    int v = on;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0)
        return fail_errno(err, "TCP_NODELAY", NULL, 0, errno);
    return 0;
}

int bl_net_set_bufsize(int fd, int sndbuf, int rcvbuf, bl_err *err)
{
    if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
        return fail_errno(err, "SO_SNDBUF", NULL, 0, errno);
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        return fail_errno(err, "SO_RCVBUF", NULL, 0, errno);
    return 0;
}

int bl_net_set_nonblock(int fd, bool on, bl_err *err)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return fail_errno(err, "fcntl(F_GETFL)", NULL, 0, errno);
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    if (fcntl(fd, F_SETFL, fl) < 0)
        return fail_errno(err, "fcntl(F_SETFL)", NULL, 0, errno);
    return 0;
}

int bl_net_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len, bl_err *err)
{
    *len = sizeof *ss;
    if (getsockname(fd, (struct sockaddr *)ss, len) < 0)
        return fail_errno(err, "getsockname", NULL, 0, errno);
    return 0;
}

int bl_net_peer_addr(int fd, struct sockaddr_storage *ss, socklen_t *len, bl_err *err)
{
    *len = sizeof *ss;
    if (getpeername(fd, (struct sockaddr *)ss, len) < 0)
        return fail_errno(err, "getpeername", NULL, 0, errno);
    return 0;
}
