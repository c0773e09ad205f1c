/* Tests for net: host:port parsing and formatting, loopback TCP
 * listen/connect/accept through the event loop, refused connects, UDP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/net.h"

static void roundtrip(const char *in, int family, uint16_t port, const char *out)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    bl_err err = {0};
    int rc = bl_net_parse_hostport(in, &ss, &len, &err);
    if (rc != 0)
        fail_msg("parse '%s': %s", in, err.msg);
    assert_int_equal(ss.ss_family, family);
    assert_int_equal(bl_net_port((struct sockaddr *)&ss), port);
    char buf[BL_NET_ADDRSTRLEN];
    if (out)
        assert_string_equal(bl_net_format((struct sockaddr *)&ss, len, buf, sizeof buf), out);
}

static void test_parse_good(void **state)
{
    roundtrip("1.2.3.4:6881", AF_INET, 6881, "1.2.3.4:6881");
    roundtrip("0.0.0.0:0", AF_INET, 0, "0.0.0.0:0");
    roundtrip("255.255.255.255:65535", AF_INET, 65535, "255.255.255.255:65535");
    roundtrip("[::1]:6881", AF_INET6, 6881, "[::1]:6881");
    roundtrip("[2001:db8::7]:80", AF_INET6, 80, "[2001:db8::7]:80");
    roundtrip("[::ffff:10.0.0.1]:1", AF_INET6, 1, "[::ffff:10.0.0.1]:1");
    /* "localhost" is in /etc/hosts; either family is a correct answer. */
    struct sockaddr_storage ss;
    socklen_t len;
    bl_err err = {0};
    assert_int_equal(bl_net_parse_hostport("localhost:6881", &ss, &len, &err), 0);
    assert_true(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    assert_int_equal(bl_net_port((struct sockaddr *)&ss), 6881);
}

static void expect_bad(const char *in, const char *needle)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bl_err err = {0};
    assert_int_equal(bl_net_parse_hostport(in, &ss, &len, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("parse '%s': message '%s' lacks '%s'", in, err.msg, needle);
}

static void test_parse_bad(void **state)
{
    expect_bad("", "empty");
    expect_bad("1.2.3.4", "host:port");
    expect_bad("1.2.3.4:", "missing port");
    expect_bad("1.2.3.4:http", "decimal");
    expect_bad("1.2.3.4:-1", "decimal");
    expect_bad("1.2.3.4:65536", "above 65535");
    expect_bad("1.2.3.4:99999999999999999999", "above 65535");
    expect_bad(":6881", "missing host");
    expect_bad("::1:6881", "[addr]:port");
    expect_bad("[::1]6881", "':port'");
    expect_bad("[::1", "missing ']'");
    expect_bad("[]:1", "IPv6 address length");
    expect_bad("[1.2.3.4]:80", "cannot resolve");
    expect_bad("[::1]:", "missing port");
    expect_bad("127.1:80", "not a valid IPv4");
    expect_bad("256.1.1.1:80", "not a valid IPv4");
    char longhost[400];
    memset(longhost, 'a', 300);
    strcpy(longhost + 300, ":80");
    expect_bad(longhost, "too long");
}

static void test_port_helpers(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(bl_net_parse_hostport("[::1]:1", &ss, &len, NULL), 0);
    bl_net_set_port((struct sockaddr *)&ss, 51413);
    char buf[BL_NET_ADDRSTRLEN];
    assert_string_equal(bl_net_format((struct sockaddr *)&ss, len, buf, sizeof buf), "[::1]:51413");
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    assert_string_equal(bl_net_format((struct sockaddr *)&un, sizeof un, buf, sizeof buf), "?");
    assert_int_equal(bl_net_port((struct sockaddr *)&un), 0);
}

/* The per-address connection bound of a swarm counts connections by host:
 * ports do not matter, families do; loopback is exempt. */
static void test_same_host(void **state)
{
    (void)state;
    struct sockaddr_storage a, b, c, v6, v6b, mapped;
    socklen_t len;
    assert_int_equal(bl_net_parse_hostport("10.91.1.3:6881", &a, &len, NULL), 0);
    assert_int_equal(bl_net_parse_hostport("10.91.1.3:40000", &b, &len, NULL), 0);
    assert_int_equal(bl_net_parse_hostport("10.91.1.4:6881", &c, &len, NULL), 0);
    assert_int_equal(bl_net_parse_hostport("[fd00::3]:6881", &v6, &len, NULL), 0);
    assert_int_equal(bl_net_parse_hostport("[fd00::3]:1", &v6b, &len, NULL), 0);
    assert_int_equal(bl_net_parse_hostport("[::ffff:10.91.1.3]:6881", &mapped, &len, NULL), 0);
    assert_true(bl_net_same_host((struct sockaddr *)&a, (struct sockaddr *)&b));
    assert_false(bl_net_same_host((struct sockaddr *)&a, (struct sockaddr *)&c));
    assert_true(bl_net_same_host((struct sockaddr *)&v6, (struct sockaddr *)&v6b));
    assert_false(bl_net_same_host((struct sockaddr *)&a, (struct sockaddr *)&mapped));
    assert_false(bl_net_same_host((struct sockaddr *)&a, (struct sockaddr *)&v6));
    assert_false(bl_net_is_loopback((struct sockaddr *)&a));
    assert_int_equal(bl_net_parse_hostport("127.3.2.1:1", &b, &len, NULL), 0);
    assert_true(bl_net_is_loopback((struct sockaddr *)&b));
    assert_int_equal(bl_net_parse_hostport("[::1]:1", &b, &len, NULL), 0);
    assert_true(bl_net_is_loopback((struct sockaddr *)&b));
    assert_false(bl_net_is_loopback((struct sockaddr *)&v6));
}

/* ---- loopback TCP through the loop ---- */

typedef struct conn_state {
    int lfd, cfd, afd;
    int connected, accepted;
    char got[16];
    size_t ngot;
} conn_state;

static void on_accept(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    conn_state *s = arg;
    bl_err err = {0};
    struct sockaddr_storage peer;
    socklen_t plen;
    int a = bl_net_accept(fd, &peer, &plen, &err);
    if (a == BL_NET_AGAIN)
        return;
    assert_true(a >= 0);
    assert_int_equal(peer.ss_family, AF_INET);
    s->afd = a;
    s->accepted = 1;
}

static void on_connected(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    conn_state *s = arg;
    bl_err err = {0};
    assert_int_equal(bl_net_connect_result(fd, &err), 0);
    s->connected = 1;
    bl_loop_del(loop, fd);
    assert_int_equal(write(fd, "hello", 5), 5);
}

static void test_tcp_loopback(void **state)
{
    bl_err err = {0};
    bl_loop *loop = bl_loop_new(&err);
    assert_non_null(loop);
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &ss, &len, &err), 0);
    conn_state s = {.afd = -1};
    s.lfd = bl_net_tcp_listen((struct sockaddr *)&ss, len, 16, &err);
    assert_true(s.lfd >= 0);
    assert_int_equal(bl_net_accept(s.lfd, NULL, NULL, &err), BL_NET_AGAIN);
    struct sockaddr_storage la;
    socklen_t lalen;
    assert_int_equal(bl_net_local_addr(s.lfd, &la, &lalen, &err), 0);
    assert_true(bl_net_port((struct sockaddr *)&la) != 0);

    bool pending = false;
    s.cfd = bl_net_tcp_connect((struct sockaddr *)&la, lalen, &pending, &err);
    assert_true(s.cfd >= 0);
    assert_true(fcntl(s.cfd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(s.cfd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(bl_net_set_nodelay(s.cfd, true, &err), 0);
    assert_int_equal(bl_net_set_bufsize(s.cfd, 65536, 65536, &err), 0);
    assert_int_equal(bl_loop_add(loop, s.lfd, BL_EV_READ, on_accept, &s, &err), 0);
    assert_int_equal(bl_loop_add(loop, s.cfd, BL_EV_WRITE, on_connected, &s, &err), 0);
    for (int i = 0; i < 50 && !(s.connected && s.accepted); i++)
        assert_true(bl_loop_run_once(loop, 100) >= 0);
    assert_true(s.connected && s.accepted);
    assert_true(fcntl(s.afd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(s.afd, F_GETFL) & O_NONBLOCK);

    struct sockaddr_storage pa;
    socklen_t palen;
    assert_int_equal(bl_net_peer_addr(s.afd, &pa, &palen, &err), 0);
    struct sockaddr_storage ca;
    socklen_t calen;
    assert_int_equal(bl_net_local_addr(s.cfd, &ca, &calen, &err), 0);
    assert_int_equal(bl_net_port((struct sockaddr *)&pa), bl_net_port((struct sockaddr *)&ca));

    for (int i = 0; i < 50 && s.ngot < 5; i++) {
        ssize_t n = read(s.afd, s.got + s.ngot, sizeof s.got - s.ngot);
        if (n > 0)
            s.ngot += (size_t)n;
        else
            usleep(2000);
    }
    assert_int_equal(s.ngot, 5);
    assert_memory_equal(s.got, "hello", 5);

    /* Listening twice on the same port fails with the address in the message. */
    assert_int_equal(bl_net_tcp_listen((struct sockaddr *)&la, lalen, 0, &err), -1);
    assert_non_null(strstr(err.msg, "127.0.0.1:"));

    bl_loop_del(loop, s.lfd);
    close(s.lfd);
    close(s.cfd);
    close(s.afd);
    bl_loop_free(loop);
}

typedef struct refused_state {
    int done, rc;
    bl_err err;
} refused_state;

static void on_refused(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    refused_state *r = arg;
    r->rc = bl_net_connect_result(fd, &r->err);
    r->done = 1;
    bl_loop_del(loop, fd);
}

static void test_tcp_refused(void **state)
{
    bl_err err = {0};
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &ss, &len, &err), 0);
    int lfd = bl_net_tcp_listen((struct sockaddr *)&ss, len, 0, &err);
    assert_true(lfd >= 0);
    struct sockaddr_storage la;
    socklen_t lalen;
    assert_int_equal(bl_net_local_addr(lfd, &la, &lalen, &err), 0);
    close(lfd);   /* nobody listens there now */

    bool pending = false;
    int fd = bl_net_tcp_connect((struct sockaddr *)&la, lalen, &pending, &err);
    if (fd < 0) {   /* refused synchronously: also acceptable */
        assert_non_null(strstr(err.msg, "refused"));
        return;
    }
    assert_true(pending);
    bl_loop *loop = bl_loop_new(&err);
    assert_non_null(loop);
    refused_state r = {0};
    assert_int_equal(bl_loop_add(loop, fd, BL_EV_WRITE, on_refused, &r, &err), 0);
    for (int i = 0; i < 50 && !r.done; i++)
        assert_true(bl_loop_run_once(loop, 100) >= 0);
    assert_true(r.done);
    assert_int_equal(r.rc, -1);
    if (!strstr(r.err.msg, "refused"))
        fail_msg("unexpected message: %s", r.err.msg);
    close(fd);
    bl_loop_free(loop);
}

static void test_udp(void **state)
{
    bl_err err = {0};
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &ss, &len, &err), 0);
    int fd = bl_net_udp_bind((struct sockaddr *)&ss, len, &err);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct sockaddr_storage la;
    socklen_t lalen;
    assert_int_equal(bl_net_local_addr(fd, &la, &lalen, &err), 0);
    assert_int_equal(sendto(fd, "ping", 4, 0, (struct sockaddr *)&la, lalen), 4);
    char b[8];
    ssize_t n = -1;
    for (int i = 0; i < 50 && n < 0; i++) {
        n = recv(fd, b, sizeof b, 0);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            usleep(1000);
        }
    }
    assert_int_equal(n, 4);
    assert_int_equal(bl_net_udp_bind((struct sockaddr *)&la, lalen, &err), -1);
    assert_non_null(strstr(err.msg, "bind UDP"));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_port_helpers),
        cmocka_unit_test(test_same_host),
        cmocka_unit_test(test_tcp_loopback),
        cmocka_unit_test(test_tcp_refused),
        cmocka_unit_test(test_udp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
