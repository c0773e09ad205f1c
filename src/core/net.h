/* net: socket plumbing for the event loop, after Redis's anet.
 *
 * Addresses travel as sockaddr_storage + length and print as "1.2.3.4:6881"
 * or "[::1]:6881".  Every socket made here is non-blocking and close-on-exec.
 * Functions that make a socket return its fd (>= 0) or -1 with err filled;
 * the rest return 0 or -1.  Nothing here blocks except name resolution in
 * bl_net_parse_hostport (getaddrinfo), which callers do at start-up. */
#ifndef BL_CORE_NET_H
#define BL_CORE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

/* Room for "[ipv6%scope]:65535" plus NUL. */
#define BL_NET_ADDRSTRLEN 80

/* bl_net_accept: no connection pending (or one vanished before we took
 * it); wait for the next readable event. */
#define BL_NET_AGAIN (-2)

/* Parse "host:port": host is a dotted IPv4 address, a bracketed IPv6
 * address ("[::1]:6881") or a name resolved with getaddrinfo (first
 * answer wins, so "localhost" may give ::1 or 127.0.0.1).  The port is
 * decimal, 0..65535 (0 lets the kernel choose when listening). */
int bl_net_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, bl_err *err);

/* "1.2.3.4:6881" / "[::1]:6881" into buf (size >= BL_NET_ADDRSTRLEN is
 * always enough); returns buf.  Unknown families print as "?". */
const char *bl_net_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Port of an AF_INET/AF_INET6 address (host order), 0 for others. */
uint16_t bl_net_port(const struct sockaddr *sa);
void bl_net_set_port(struct sockaddr *sa, uint16_t port);

/* The same host: family and address equal, ports ignored (an IPv4-mapped
 * IPv6 address is not the IPv4 one: a listener sees one form only). */
bool bl_net_same_host(const struct sockaddr *a, const struct sockaddr *b);
/* 127.0.0.0/8 or ::1: a process on this machine. */
bool bl_net_is_loopback(const struct sockaddr *sa);

/* TCP listener with SO_REUSEADDR bound to sa; backlog <= 0 means SOMAXCONN.
 * An IPv6 wildcard listener also takes IPv4 (the kernel default). */
int bl_net_tcp_listen(const struct sockaddr *sa, socklen_t len, int backlog, bl_err *err);

/* Accept one connection (accept4, SOCK_NONBLOCK|SOCK_CLOEXEC).  Returns the
 * fd; BL_NET_AGAIN when nothing is pending (EAGAIN, EINTR, ECONNABORTED);
 * -1 with err on a real failure (EMFILE, ENFILE, ENOBUFS...: the caller
 * should back off rather than spin).  peer/peer_len may be NULL. */
int bl_net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len, bl_err *err);

/* Start a TCP connect.  Returns the fd; *in_progress is set when the
 * connection is still being made (wait for BL_EV_WRITE, then call
 * bl_net_connect_result).  Loopback connects may complete at once. */
int bl_net_tcp_connect(const struct sockaddr *sa, socklen_t len, bool *in_progress, bl_err *err);

/* After a non-blocking connect became writable: 0 if connected, -1 with
 * err ("connect: Connection refused") otherwise. */
int bl_net_connect_result(int fd, bl_err *err);

/* UDP socket bound to sa (SO_REUSEADDR not set: one owner per port). */
int bl_net_udp_bind(const struct sockaddr *sa, socklen_t len, bl_err *err);

int bl_net_set_nodelay(int fd, bool on, bl_err *err);
/* Kernel send/receive buffer sizes in bytes; 0 leaves one unchanged. */
int bl_net_set_bufsize(int fd, int sndbuf, int rcvbuf, bl_err *err);
int bl_net_set_nonblock(int fd, bool on, bl_err *err);
/* The socket's own / the peer's address (getsockname / getpeername). */
int bl_net_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len, bl_err *err);
int bl_net_peer_addr(int fd, struct sockaddr_storage *ss, socklen_t *len, bl_err *err);

#endif
