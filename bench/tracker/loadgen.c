/* loadgen: announce load for a BitTorrent tracker on loopback (bench/tracker/run).
 *
 * Simulates P peers (default 100,000) in S swarms (default 1,000).  Peer j is in swarm
 * j % S, has peer id "-BLBNCH-" + j, and announces from source address 127.10.x.y number
 * j / 100 (one of P/100 loopback addresses; Linux answers for all of 127/8) with port
 * 20000 + j % 100, so (address, port) is unique per peer as well as the peer id: trackers
 * that key peers by address (opentracker) and by peer id (bitlib) see the same P peers.
 * Info-hash of swarm s: 20 bytes of splitmix64(s) (--hashes FILE writes them as a
 * whitelist).
 *
 *   loadgen --proto udp|http --target 127.0.0.1:PORT [--seconds T] [--window W]
 *           [--prefill] [--keepalive] [--pid TRACKER_PID] [--peers P] [--swarms S]
 *
 * --prefill: every peer announces once (event=started, left>0), in order, then exit.
 * Otherwise: for T seconds, random peers announce (no event) with up to W requests in
 * flight; the answered announces per second are printed on one line of key=value pairs,
 * with the tracker's CPU share over the same window (from /proc/PID/stat) when --pid is
 * given, and the generator's own, so a reader can tell which side was the bottleneck.
 *
 * UDP (BEP 15): one socket; each source address gets its connection id once (connect),
 * then announces; datagrams go out and come in by sendmmsg/recvmmsg in batches, the
 * source address of each set with IP_PKTINFO.  A request unanswered for 1 s is sent again
 * (counted as a timeout).  Packets are built by the project's codec (tracker/udp_wire.h).
 * HTTP: W connections, each bound to one peer's source address; a new connection per
 * announce ("Connection: close", as most clients do), or with --keepalive HTTP/1.1
 * persistent connections (a server that closes anyway is reconnected, counted).
 * An answer counts when it is a 200 whose bencoded body has "interval" and no
 * "failure reason". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tracker/proto.h"
#include "tracker/udp_wire.h"

#define PORTS_PER_IP 100
#define BATCH 64

static uint32_t n_peers = 100000, n_swarms = 1000;
static struct sockaddr_in target;
static int numwant = 50;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void info_hash(uint32_t swarm, uint8_t h[20])
{
    for (int i = 0; i < 3; i++) {
        uint64_t v = splitmix64((uint64_t)swarm * 3 + i + 1);
        memcpy(h + 8 * i, &v, i < 2 ? 8 : 4);
    }
}

static uint32_t n_ips(void) { return (n_peers + PORTS_PER_IP - 1) / PORTS_PER_IP; }

static struct in_addr peer_ip(uint32_t ipidx)
{
    struct in_addr a;
    a.s_addr = htonl((127u << 24) | (10u << 16) | ((ipidx / 250) << 8) | (ipidx % 250 + 1));
    return a;
}

static void peer_announce(uint32_t j, bool started, bl_trk_announce *a)
{
    memset(a, 0, sizeof *a);
    info_hash(j % n_swarms, a->info_hash);
    char id[21];
    snprintf(id, sizeof id, "-BLBNCH-%012u", j);
    memcpy(a->peer_id, id, 20);
    a->addr.port = (uint16_t)(20000 + j % PORTS_PER_IP);
    a->left = 1000;
    a->event = started ? BL_TRK_EV_STARTED : BL_TRK_EV_NONE;
    a->numwant = numwant;
    a->key = j;
    a->compact = true;
}

/* ---- CPU accounting ---- */

static double proc_cpu_s(int pid)
{
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long ut = 0, st = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- UDP ---- */

struct uslot {
    uint32_t peer;     /* UINT32_MAX: free */
    uint32_t txid;
    double sent;
};

static int udp_sock;
static uint64_t *conn_ids;   /* per source address; 0 = none yet */

static void udp_prep(struct mmsghdr *m, struct iovec *iov, char *cbuf, uint8_t *pkt,
                     size_t len, struct in_addr src)
{
    memset(m, 0, sizeof *m);
    iov->iov_base = pkt;
    iov->iov_len = len;
    m->msg_hdr.msg_name = &target;
    m->msg_hdr.msg_namelen = sizeof target;
    m->msg_hdr.msg_iov = iov;
    m->msg_hdr.msg_iovlen = 1;
    m->msg_hdr.msg_control = cbuf;
    m->msg_hdr.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m->msg_hdr);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = {.ipi_spec_dst = src};
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
}

static void udp_sendbatch(struct mmsghdr *m, unsigned n)
{
    unsigned off = 0;
    while (off < n) {
        int r = sendmmsg(udp_sock, m + off, n - off, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == ENOBUFS)
                return;   /* dropped: the timeout resends */
            perror("loadgen: sendmmsg");
            exit(2);
        }
        off += (unsigned)r;
    }
}

/* Receive what is there (waiting up to wait_ms for the first); calls fn per datagram. */
static int udp_recvbatch(int wait_ms, void (*fn)(const uint8_t *, size_t, void *), void *arg)
{
    static uint8_t bufs[BATCH][1500];
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        memset(&m[i], 0, sizeof m[i]);
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    int r = recvmmsg(udp_sock, m, BATCH, MSG_DONTWAIT, NULL);
    if (r < 0 && (errno == EAGAIN || errno == EINTR) && wait_ms > 0) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = wait_ms * 1000};
        setsockopt(udp_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        r = recvmmsg(udp_sock, m, BATCH, MSG_WAITFORONE, NULL);
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        perror("loadgen: recvmmsg");
        exit(2);
    }
    for (int i = 0; i < r; i++)
        fn(bufs[i], m[i].msg_len, arg);
    return r;
}

static void on_connect_reply(const uint8_t *p, size_t n, void *arg)
{
    (void)arg;
    bl_udp_response r;
    bl_err err = {0};
    if (bl_udp_decode_response(p, n, 4, &r, &err) || r.action != BL_UDP_CONNECT)
        return;
    uint32_t ip = r.txid & 0xffffff;
    if ((r.txid >> 24) == 0xc0 && ip < n_ips())
        conn_ids[ip] = r.conn_id;
}

static void udp_connect_all(void)
{
    uint32_t nips = n_ips();
    for (int attempt = 0; attempt < 20; attempt++) {
        uint32_t missing = 0;
        for (uint32_t base = 0; base < nips; base += BATCH) {
            struct mmsghdr m[BATCH];
            struct iovec iov[BATCH];
            char cbuf[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
            uint8_t pkt[BATCH][16];
            unsigned k = 0;
            for (uint32_t ip = base; ip < nips && ip < base + BATCH; ip++) {
                if (conn_ids[ip])
                    continue;
                missing++;
                bl_udp_encode_connect_req(pkt[k], 0xc0000000u | ip);
                udp_prep(&m[k], &iov[k], cbuf[k], pkt[k], 16, peer_ip(ip));
                k++;
            }
            udp_sendbatch(m, k);
            while (udp_recvbatch(k ? 5 : 0, on_connect_reply, NULL) > 0)
                ;
        }
        if (!missing)
            return;
        double end = now_s() + 0.3;
        while (now_s() < end)
            udp_recvbatch(50, on_connect_reply, NULL);
    }
    fprintf(stderr, "loadgen: no UDP connect reply for some source addresses after 20 tries\n");
    exit(2);
}

struct udp_run {
    struct uslot *slots;
    unsigned window;
    uint32_t next_txid;
    uint64_t ok, failed, timeouts;
    char last_error[128];
};

static void on_announce_reply(const uint8_t *p, size_t n, void *arg)
{
    struct udp_run *u = arg;
    bl_udp_response r;
    bl_err err = {0};
    if (bl_udp_decode_response(p, n, 4, &r, &err))
        return;
    unsigned s = r.txid % u->window;
    if (u->slots[s].peer == UINT32_MAX || u->slots[s].txid != r.txid)
        return;   /* late answer to a resent request */
    if (r.action == BL_UDP_ANNOUNCE) {
        u->ok++;
    } else {
        u->failed++;
        snprintf(u->last_error, sizeof u->last_error, "%.*s", (int)r.msglen, r.msg);
    }
    u->slots[s].peer = UINT32_MAX;
}

/* Run announces until `count` are answered (prefill: peers 0..count-1 in order) or until
 * `seconds` have passed (random peers). */
static void udp_run(bool prefill, double seconds, unsigned window, int pid)
{
    udp_sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int big = 8 << 20;
    setsockopt(udp_sock, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(udp_sock, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    conn_ids = calloc(n_ips(), sizeof *conn_ids);
    udp_connect_all();

    struct udp_run u = {.window = window};
    u.slots = calloc(window, sizeof *u.slots);
    for (unsigned i = 0; i < window; i++)
        u.slots[i].peer = UINT32_MAX;
    uint32_t next_peer = 0;
    double t0 = now_s(), c0 = proc_cpu_s(pid), s0 = self_cpu_s(), end = t0 + seconds;
    for (;;) {
        double t = now_s();
        if (!prefill && t >= end)
            break;
        struct mmsghdr m[BATCH];
        struct iovec iov[BATCH];
        char cbuf[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
        uint8_t pkt[BATCH][BL_UDP_ANNOUNCE_REQ_MAX];
        unsigned k = 0, busy = 0;
        for (unsigned s = 0; s < window && k < BATCH; s++) {
            struct uslot *sl = &u.slots[s];
            if (sl->peer != UINT32_MAX && t - sl->sent < 1.0) {
                busy++;
                continue;
            }
            if (sl->peer != UINT32_MAX) {
                u.timeouts++;   /* resend the same peer's announce */
            } else if (prefill) {
                if (next_peer >= n_peers)
                    continue;
                sl->peer = next_peer++;
            } else {
                sl->peer = rnd(n_peers);
            }
            /* txid = s mod window, so the reply finds its slot without a search */
            u.next_txid += window;
            sl->txid = u.next_txid + s;
            sl->sent = t;
            bl_trk_announce a;
            peer_announce(sl->peer, prefill, &a);
            uint32_t ip = sl->peer / PORTS_PER_IP;
            size_t len = bl_udp_encode_announce_req(pkt[k], conn_ids[ip], sl->txid, &a);
            udp_prep(&m[k], &iov[k], cbuf[k], pkt[k], len, peer_ip(ip));
            k++;
            busy++;
        }
        if (prefill && !busy && next_peer >= n_peers)
            break;
        udp_sendbatch(m, k);
        udp_recvbatch(k ? 0 : 2, on_announce_reply, &u);
    }
    double dt = now_s() - t0;
    double tcpu = proc_cpu_s(pid) - c0, scpu = self_cpu_s() - s0;
    if (prefill)
        printf("proto=udp prefill=%u seconds=%.2f failed=%llu timeouts=%llu%s%s\n", n_peers, dt,
               (unsigned long long)u.failed, (unsigned long long)u.timeouts,
               u.last_error[0] ? " last_error=" : "", u.last_error);
    else
        printf("proto=udp announces=%llu seconds=%.2f rate=%.0f failed=%llu timeouts=%llu "
               "tracker_cpu=%.0f%% loadgen_cpu=%.0f%%%s%s\n",
               (unsigned long long)u.ok, dt, u.ok / dt, (unsigned long long)u.failed,
               (unsigned long long)u.timeouts, pid > 0 ? 100 * tcpu / dt : -1.0,
               100 * scpu / dt, u.last_error[0] ? " last_error=" : "", u.last_error);
}

/* ---- HTTP ---- */

struct hconn {
    int fd;
    uint32_t peer;
    uint32_t ip;      /* source address index (keep-alive: fixed for the connection) */
    char req[640];
    size_t reqlen, sent;
    char resp[4096];
    size_t got;
    bool alive;       /* an open keep-alive connection */
};

static int epfd;
static bool keepalive;
static uint64_t h_ok, h_failed, h_connects, h_reset;
static char h_last_error[128];

static void pct(char **p, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *(*p)++ = (char)c;
        } else {
            *(*p)++ = '%';
            *(*p)++ = hex[c >> 4];
            *(*p)++ = hex[c & 15];
        }
    }
}

static void http_build(struct hconn *c, bool started)
{
    bl_trk_announce a;
    peer_announce(c->peer, started, &a);
    char *p = c->req;
    p += sprintf(p, "GET /announce?info_hash=");
    pct(&p, a.info_hash, 20);
    p += sprintf(p, "&peer_id=");
    pct(&p, a.peer_id, 20);
    p += sprintf(p, "&port=%u&uploaded=0&downloaded=0&left=%llu&compact=1&numwant=%d%s"
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
                 a.addr.port, (unsigned long long)a.left, numwant,
                 started ? "&event=started" : "", keepalive ? "" : "Connection: close\r\n");
    c->reqlen = (size_t)(p - c->req);
    c->sent = 0;
    c->got = 0;
}

static int http_open(struct hconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        perror("loadgen: socket");
        exit(2);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = peer_ip(c->ip)};
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src)) {
        perror("loadgen: bind");
        exit(2);
    }
    h_connects++;
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->alive = true;
    return 0;
}

static void http_close(struct hconn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->alive = false;
}

/* Whole response there?  Returns 1 done (ok or not counted inside), 0 need more. */
static int http_parse(struct hconn *c, bool eof)
{
    c->resp[c->got < sizeof c->resp ? c->got : sizeof c->resp - 1] = 0;
    char *hend = strstr(c->resp, "\r\n\r\n");
    if (!hend)
        return eof ? -1 : 0;
    char *body = hend + 4;
    size_t have = c->got - (size_t)(body - c->resp);
    char *cl = strcasestr(c->resp, "\r\ncontent-length:");
    if (cl && cl < hend) {
        size_t want = strtoul(cl + 17, NULL, 10);
        if (have < want)
            return eof ? -1 : 0;
        have = want;
    } else if (!eof) {
        return 0;   /* no length: the body ends at EOF */
    }
    bool ok = !strncmp(c->resp, "HTTP/1.", 7) && !strncmp(c->resp + 9, "200", 3) &&
              memmem(body, have, "8:interval", 10) && !memmem(body, have, "failure reason", 14);
    if (ok) {
        h_ok++;
    } else {
        h_failed++;
        snprintf(h_last_error, sizeof h_last_error, "%.*s", (int)(have < 100 ? have : 100), body);
    }
    return 1;
}

static void http_start(struct hconn *c, bool prefill, uint32_t *next_peer)
{
    if (prefill) {
        c->peer = (*next_peer)++;
        c->ip = c->peer / PORTS_PER_IP;
    } else if (keepalive && c->alive) {
        c->peer = c->ip * PORTS_PER_IP + rnd(PORTS_PER_IP);
        if (c->peer >= n_peers)
            c->peer = rnd(n_peers);
    } else {
        c->peer = rnd(n_peers);
        c->ip = c->peer / PORTS_PER_IP;
    }
    if (c->peer / PORTS_PER_IP != c->ip) {
        http_close(c);
        c->ip = c->peer / PORTS_PER_IP;
    }
    http_build(c, prefill);
    if (!c->alive && http_open(c)) {
        h_failed++;
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void http_run(bool prefill, double seconds, unsigned window, int pid)
{
    epfd = epoll_create1(0);
    struct hconn *cs = calloc(window, sizeof *cs);
    uint32_t next_peer = 0;
    unsigned active = 0;
    double t0 = now_s(), c0 = proc_cpu_s(pid), s0 = self_cpu_s(), end = t0 + seconds;
    for (unsigned i = 0; i < window; i++) {
        cs[i].fd = -1;
        if (prefill && next_peer >= n_peers)
            break;
        http_start(&cs[i], prefill, &next_peer);
        if (cs[i].fd >= 0)
            active++;
    }
    struct epoll_event evs[256];
    while (active) {
        double t = now_s();
        bool stopping = prefill ? next_peer >= n_peers : t >= end;
        if (!prefill && t >= end + 2)
            break;   /* answers still missing 2 s after the window: not counted */
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct hconn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            bool done = false, broken = false;
            if (c->sent < c->reqlen) {
                ssize_t w = send(c->fd, c->req + c->sent, c->reqlen - c->sent, MSG_NOSIGNAL);
                if (w > 0) {
                    c->sent += (size_t)w;
                    if (c->sent == c->reqlen) {
                        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                    }
                } else if (w < 0 && errno != EAGAIN) {
                    broken = true;
                }
            }
            if (!broken && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    ssize_t r = recv(c->fd, c->resp + c->got, sizeof c->resp - 1 - c->got, 0);
                    if (r > 0) {
                        c->got += (size_t)r;
                        int pr = http_parse(c, false);
                        if (pr) {
                            done = true;
                            break;
                        }
                        if (c->got >= sizeof c->resp - 1) {
                            broken = true;
                            break;
                        }
                        continue;
                    }
                    if (r == 0) {
                        int pr = http_parse(c, true);
                        if (pr == 1)
                            done = true;
                        else
                            broken = true;
                        c->alive = false;
                    } else if (errno != EAGAIN) {
                        broken = true;
                    }
                    break;
                }
            }
            if (broken) {
                /* a keep-alive connection the server closed before answering: not a
                 * failure of the tracker, send again on a new one */
                bool retry = keepalive && c->sent == c->reqlen && c->got == 0;
                http_close(c);
                if (retry) {
                    h_reset++;
                    c->sent = 0;
                    if (!http_open(c))
                        continue;
                }
                h_failed++;
                done = true;
            }
            if (done) {
                if (!keepalive || !c->alive)
                    http_close(c);
                if (stopping) {
                    http_close(c);
                    active--;
                } else {
                    http_start(c, prefill, &next_peer);
                    if (c->fd < 0)
                        active--;
                }
            }
        }
    }
    double dt = (prefill ? now_s() : end) - t0;
    if (!prefill && now_s() < end)
        dt = now_s() - t0;
    double tcpu = proc_cpu_s(pid) - c0, scpu = self_cpu_s() - s0;
    for (unsigned i = 0; i < window; i++)
        http_close(&cs[i]);
    if (prefill)
        printf("proto=http prefill=%u seconds=%.2f failed=%llu%s%s\n", n_peers, dt,
               (unsigned long long)h_failed, h_last_error[0] ? " last_error=" : "",
               h_last_error);
    else
        printf("proto=http%s announces=%llu seconds=%.2f rate=%.0f failed=%llu connections=%llu "
               "reconnects=%llu tracker_cpu=%.0f%% loadgen_cpu=%.0f%%%s%s\n",
               keepalive ? "-keepalive" : "", (unsigned long long)h_ok, dt, h_ok / dt,
               (unsigned long long)h_failed, (unsigned long long)h_connects,
               (unsigned long long)h_reset, pid > 0 ? 100 * tcpu / dt : -1.0, 100 * scpu / dt,
               h_last_error[0] ? " last_error=" : "", h_last_error);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --proto udp|http --target 127.0.0.1:PORT [--seconds T] [--window W]\n"
            "               [--prefill] [--keepalive] [--pid PID] [--peers P] [--swarms S]\n"
            "               [--numwant N] [--seed N]\n"
            "       loadgen --hashes FILE [--swarms S]   (write the info-hashes, hex, one a line)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"proto", 1, 0, 'p'},   {"target", 1, 0, 't'}, {"seconds", 1, 0, 's'},
        {"window", 1, 0, 'w'},  {"prefill", 0, 0, 'f'}, {"keepalive", 0, 0, 'k'},
        {"pid", 1, 0, 'P'},     {"peers", 1, 0, 'n'},  {"swarms", 1, 0, 'S'},
        {"numwant", 1, 0, 'N'}, {"hashes", 1, 0, 'H'}, {"seed", 1, 0, 'r'},
        {0, 0, 0, 0}};
    const char *proto = NULL, *tgt = NULL, *hashes = NULL;
    double seconds = 5;
    unsigned window = 0;
    bool prefill = false;
    int pid = 0, o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p': proto = optarg; break;
        case 't': tgt = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'w': window = (unsigned)atoi(optarg); break;
        case 'f': prefill = true; break;
        case 'k': keepalive = true; break;
        case 'P': pid = atoi(optarg); break;
        case 'n': n_peers = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'S': n_swarms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'N': numwant = atoi(optarg); break;
        case 'H': hashes = optarg; break;
        case 'r': rng_state = splitmix64(strtoull(optarg, NULL, 10)) | 1; break;
        default: usage();
        }
    }
    if (!n_swarms || !n_peers || n_peers > 250u * 250 * PORTS_PER_IP) {
        fprintf(stderr, "loadgen: --peers must be 1..%u and --swarms at least 1\n",
                250u * 250 * PORTS_PER_IP);
        return 2;
    }
    if (hashes) {
        FILE *f = fopen(hashes, "w");
        if (!f) {
            perror(hashes);
            return 2;
        }
        for (uint32_t s = 0; s < n_swarms; s++) {
            uint8_t h[20];
            info_hash(s, h);
            for (int i = 0; i < 20; i++)
                fprintf(f, "%02x", h[i]);
            fputc('\n', f);
        }
        return fclose(f) ? 2 : 0;
    }
    if (!proto || !tgt || (strcmp(proto, "udp") && strcmp(proto, "http")))
        usage();
    const char *colon = strrchr(tgt, ':');
    target.sin_family = AF_INET;
    if (!colon || inet_pton(AF_INET, strndupa(tgt, (size_t)(colon - tgt)), &target.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --target wants IPV4:PORT, not %s\n", tgt);
        return 2;
    }
    if ((ntohl(target.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "loadgen: --target must be a loopback address (127.0.0.0/8)\n");
        return 2;
    }
    target.sin_port = htons((uint16_t)atoi(colon + 1));
    if (!strcmp(proto, "udp"))
        udp_run(prefill, seconds, window ? window : 256, pid);
    else
        http_run(prefill, seconds, window ? window : 64, pid);
    return 0;
}
