/* Unit tests: the swarm engine end to end, in one process.
 *
 * Several swarms share one event loop and talk over real loopback sockets:
 * a seeder and fetchers.  Everything fetched is compared byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "core/net.h"
#include "meta/create.h"
#include "meta/metainfo.h"
#include "swarm/swarm.h"
#include "swarm/wire.h"

static char tmp[64];

static void put_file(const char *rel, size_t n, unsigned seed)
{
    char p[256];
    snprintf(p, sizeof p, "%s/src/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc((int)((((i + 1) * 2654435761u + seed * 40503u) >> 7) & 0x7f) | 0x80, f); /* never zero: sparse files must not match */
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    bl_log_set_level(BL_LOG_WARN);
    strcpy(tmp, "/tmp/bl_test_swarm_XXXXXX");
    assert_non_null(mkdtemp(tmp));
    char p[256];
    snprintf(p, sizeof p, "%s/src", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/src/lib", tmp);
    mkdir(p, 0755);
    put_file("lib/a.so", 300000, 1);
    put_file("lib/b.so", 16384, 2);
    put_file("lib/c.so", 1, 3);
    put_file("big.bin", 2 * 1024 * 1024 + 77, 4);
    put_file("empty", 0, 5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    return system(cmd);
}

static void make_mi(bl_metainfo *mi)
{
    char src[128];
    snprintf(src, sizeof src, "%s/src", tmp);
    const char *dirs[] = {src};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1};
    bl_buf b;
    bl_buf_init(&b);
    bl_err err;
    if (bl_create(&o, &b, NULL, &err) < 0)
        fail_msg("create: %s", err.msg);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    if (bl_metainfo_parse(mi, raw, len, &err) < 0)
        fail_msg("parse: %s", err.msg);
}

typedef struct ctx {
    bl_loop *loop;
    int complete, want;
} ctx;

static void on_complete(void *arg)
{
    ctx *c = arg;
    if (++c->complete == c->want)
        bl_loop_stop(c->loop);
}

static void on_timeout(bl_loop *loop, void *arg)
{
    (void)arg;
    bl_loop_stop(loop);
}

static void same_files(const char *a, const char *b)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "diff -r %s %s >/dev/null", a, b);
    assert_int_equal(system(cmd), 0);
}

static void add_listener(bl_swarm *to, const bl_swarm *from)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bl_err err;
    assert_int_equal(bl_net_parse_hostport(bl_swarm_listen_addr(from), &ss, &len, &err), 0);
    assert_int_equal(bl_swarm_add_peer(to, (struct sockaddr *)&ss, len), 0);
}

static void test_seed_to_fetchers(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    ctx c = {.want = 3};
    c.loop = bl_loop_new(&err);
    assert_non_null(c.loop);
    char src[128], out[3][128];
    snprintf(src, sizeof src, "%s/src", tmp);
    bl_swarm_config sc = {.mi = &mi, .dir = src, .seed = true, .listen = "127.0.0.1:0"};
    bl_swarm *seed = bl_swarm_new(c.loop, &sc, &err);
    if (!seed)
        fail_msg("seed: %s", err.msg);
    assert_int_equal(bl_swarm_start(seed, &err), 0);
    bl_swarm *f[3];
    for (int i = 0; i < 3; i++) {
        snprintf(out[i], sizeof out[i], "%s/out%d", tmp, i);
        bl_swarm_config fc = {.mi = &mi, .dir = out[i], .listen = "127.0.0.1:0",
                              .on_complete = on_complete, .arg = &c};
        f[i] = bl_swarm_new(c.loop, &fc, &err);
        if (!f[i])
            fail_msg("fetch: %s", err.msg);
        bl_swarm_want_all(f[i], BL_PRIO_BULK);
        assert_int_equal(bl_swarm_start(f[i], &err), 0);
    }
    /* fetcher 0 knows only the seed; 1 and 2 know only fetcher 0: the data
     * must flow seed -> 0 -> {1, 2} and PEX must introduce the rest */
    add_listener(f[0], seed);
    add_listener(f[1], f[0]);
    add_listener(f[2], f[0]);
    bl_loop_timer(c.loop, 30000, on_timeout, NULL);
    bl_loop_run(c.loop);
    assert_int_equal(c.complete, 3);
    uint64_t total_down = 0;
    for (int i = 0; i < 3; i++) {
        bl_swarm_stats st;
        bl_swarm_get_stats(f[i], &st);
        assert_int_equal(st.pieces_had, mi.num_pieces);
        assert_int_equal(st.hash_failures, 0);
        total_down += st.bytes_downloaded;
        same_files(src, out[i]);
    }
    bl_swarm_stats ss;
    bl_swarm_get_stats(seed, &ss);
    /* what the seeder sent is what fetchers got from it, at most */
    assert_true(ss.bytes_uploaded <= total_down);
    assert_true(ss.bytes_uploaded >= mi.total_length - mi.total_length / 4);
    /* cooperative: the seed sends each piece once (measured 1.000 here),
     * peers do the rest */
    assert_true(ss.bytes_uploaded <= mi.total_length + mi.total_length / 10);
    for (int i = 0; i < 3; i++)
        bl_swarm_free(f[i]);
    bl_swarm_free(seed);
    bl_loop_free(c.loop);
    bl_metainfo_free(&mi);
}

static void run_for(bl_loop *loop, uint64_t ms)
{
    bl_loop_refresh_now(loop);
    bl_loop_timer(loop, ms, on_timeout, NULL);
    bl_loop_run(loop);
}

/* Send a BitTorrent handshake as peer id `id` and, if port, an extension
 * handshake announcing that listen port. */
static void send_handshake(int fd, const bl_metainfo *mi, const uint8_t id[20], uint16_t port)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_handshake_encode(&b, mi->info_hash, id, BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
    if (port) {
        char ext[64];
        int n = snprintf(ext, sizeof ext, "d1:md6:ut_pexi1ee1:pi%uee", (unsigned)port);
        bl_wire_put_extended(&b, BL_EXT_HANDSHAKE_ID, ext, (size_t)n);
    }
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    bl_buf_free(&b);
}

/* One peer reached twice: our outgoing connection to its listen port Q,
 * and its incoming connection that says (extension handshake) it listens
 * on Q.  When the outgoing one's handshake comes last and loses the
 * duplicate rule, closing it must not mark Q unconnected while the other
 * connection lives: it was, and Q was dialled again every second or so
 * (seen in bench/swarm), each time closed as a duplicate. */
static void test_duplicate_not_redialled(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    assert_non_null(loop);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/dup", tmp);
    bl_swarm_config fc = {.mi = &mi, .dir = dir, .listen = "127.0.0.1:0"};
    bl_swarm *sw = bl_swarm_new(loop, &fc, &err);
    if (!sw)
        fail_msg("fetch: %s", err.msg);
    bl_swarm_want_all(sw, BL_PRIO_BULK);
    assert_int_equal(bl_swarm_start(sw, &err), 0);

    /* the other peer: a listener at Q, and a client towards the swarm */
    struct sockaddr_storage q;
    socklen_t qlen;
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &q, &qlen, &err), 0);
    int lfd = bl_net_tcp_listen((struct sockaddr *)&q, qlen, 8, &err);
    assert_true(lfd >= 0);
    assert_int_equal(bl_net_local_addr(lfd, &q, &qlen, &err), 0);
    assert_int_equal(bl_swarm_add_peer(sw, (struct sockaddr *)&q, qlen), 0);
    run_for(loop, 100);  /* the swarm dials Q */
    int out_side = accept(lfd, NULL, NULL);
    assert_true(out_side >= 0);

    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(bl_net_parse_hostport(bl_swarm_listen_addr(sw), &ss, &len, &err), 0);
    int in_side = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(in_side, (struct sockaddr *)&ss, len), 0);
    /* an id below any bitlib id: the duplicate rule keeps the connection
     * this id's side opened, so the swarm's outgoing one is the loser */
    static const uint8_t id[20] = {0};
    send_handshake(in_side, &mi, id, bl_net_port((struct sockaddr *)&q));
    run_for(loop, 100);
    send_handshake(out_side, &mi, id, 0);
    run_for(loop, 2500);  /* a re-dial would come after 1 s */

    bl_swarm_stats st;
    bl_swarm_get_stats(sw, &st);
    assert_int_equal(st.peers, 1);
    assert_int_equal(st.dials, 1);
    bl_net_set_nonblock(lfd, true, &err);
    assert_true(accept(lfd, NULL, NULL) < 0); /* nobody knocked again */

    close(in_side);
    close(out_side);
    close(lfd);
    bl_swarm_free(sw);
    bl_loop_free(loop);
    bl_metainfo_free(&mi);
}

static void test_seed_refuses_bad_data(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    put_file("lib/b.so", 16384, 99); /* same size, other bytes */
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    char src[128];
    snprintf(src, sizeof src, "%s/src", tmp);
    bl_swarm_config sc = {.mi = &mi, .dir = src, .seed = true};
    bl_swarm *s = bl_swarm_new(loop, &sc, &err);
    assert_null(s);
    assert_non_null(strstr(err.msg, "does not match"));
    assert_non_null(strstr(err.msg, "lib/b.so"));
    bl_loop_free(loop);
    bl_metainfo_free(&mi);
}

static void test_resume_keeps_verified(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    ctx c = {.want = 1};
    c.loop = bl_loop_new(&err);
    char src[128], out[128], cmd[512];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(out, sizeof out, "%s/resume", tmp);
    /* a partial copy: one file already complete */
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/big.bin %s/", out, src, out);
    assert_int_equal(system(cmd), 0);
    bl_swarm_config fc = {.mi = &mi, .dir = out, .on_complete = on_complete, .arg = &c};
    bl_swarm *f = bl_swarm_new(c.loop, &fc, &err);
    if (!f)
        fail_msg("fetch: %s", err.msg);
    bl_swarm_stats st;
    bl_swarm_get_stats(f, &st);
    uint32_t big_pieces = (uint32_t)((2 * 1024 * 1024 + 77 + mi.piece_length - 1) / mi.piece_length);
    assert_int_equal(st.pieces_had, big_pieces);
    bl_swarm_config sc = {.mi = &mi, .dir = src, .seed = true, .listen = "127.0.0.1:0"};
    bl_swarm *seed = bl_swarm_new(c.loop, &sc, &err);
    assert_non_null(seed);
    assert_int_equal(bl_swarm_start(seed, &err), 0);
    bl_swarm_want_all(f, BL_PRIO_BULK);
    assert_int_equal(bl_swarm_start(f, &err), 0);
    add_listener(f, seed);
    bl_loop_timer(c.loop, 30000, on_timeout, NULL);
    bl_loop_run(c.loop);
    assert_int_equal(c.complete, 1);
    bl_swarm_get_stats(f, &st);
    /* only what was missing crossed the wire */
    assert_true(st.bytes_downloaded <= mi.total_length - (uint64_t)big_pieces * mi.piece_length +
                                           mi.piece_length);
    same_files(src, out);
    bl_swarm_free(f);
    bl_swarm_free(seed);
    bl_loop_free(c.loop);
    bl_metainfo_free(&mi);
}

/* Want every piece of one file of the set, as a mount does when it is opened. */
static void want_file(bl_swarm *f, const bl_metainfo *mi, const char *path)
{
    const bl_mentry *e = bl_metainfo_lookup(mi, path);
    assert_non_null(e);
    uint32_t first, last;
    bl_metainfo_piece_range(mi, (size_t)e->file, 0, e->size, &first, &last);
    bl_swarm_want(f, first, last, BL_PRIO_OPENED);
}

static void test_partial_want(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    ctx c = {.want = 1};
    c.loop = bl_loop_new(&err);
    char src[128], out[128];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(out, sizeof out, "%s/partial", tmp);
    bl_swarm_config sc = {.mi = &mi, .dir = src, .seed = true, .listen = "127.0.0.1:0"};
    bl_swarm *seed = bl_swarm_new(c.loop, &sc, &err);
    assert_int_equal(bl_swarm_start(seed, &err), 0);
    bl_swarm_config fc = {.mi = &mi, .dir = out, .on_complete = on_complete, .arg = &c};
    bl_swarm *f = bl_swarm_new(c.loop, &fc, &err);
    const bl_mentry *e = bl_metainfo_lookup(&mi, "lib/a.so");
    assert_non_null(e);
    uint32_t first, last;
    bl_metainfo_piece_range(&mi, (size_t)e->file, 0, e->size, &first, &last);
    bl_swarm_want(f, first, last, BL_PRIO_OPENED);
    assert_int_equal(bl_swarm_start(f, &err), 0);
    add_listener(f, seed);
    bl_loop_timer(c.loop, 30000, on_timeout, NULL);
    bl_loop_run(c.loop);
    assert_int_equal(c.complete, 1);
    bl_swarm_stats st;
    bl_swarm_get_stats(f, &st);
    assert_int_equal(st.pieces_had, last - first + 1);
    assert_true(bl_store_file_ready(bl_swarm_store(f), (size_t)e->file, 0, e->size));
    bl_swarm_free(f);
    bl_swarm_free(seed);
    bl_loop_free(c.loop);
    bl_metainfo_free(&mi);
}

/* A node reading on demand from a stock seeder (a bitlib seed with
 * --policy stock: it chokes peers that lose interest) keeps its interest and
 * its unchoked slot after the opened file has arrived, so the next open does
 * not wait for the seeder's next choke round. */
static void test_stock_seeder_keeps_us_unchoked(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    ctx c = {.want = 1};
    c.loop = bl_loop_new(&err);
    char src[128], out[128];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(out, sizeof out, "%s/ondemand", tmp);
    bl_swarm_config sc = {.mi = &mi, .dir = src, .seed = true, .listen = "127.0.0.1:0",
                          .policy = BL_POLICY_STOCK};
    bl_swarm *seed = bl_swarm_new(c.loop, &sc, &err);
    assert_non_null(seed);
    assert_int_equal(bl_swarm_start(seed, &err), 0);
    bl_swarm_config fc = {.mi = &mi, .dir = out, .on_complete = on_complete, .arg = &c};
    bl_swarm *f = bl_swarm_new(c.loop, &fc, &err);
    assert_non_null(f);
    want_file(f, &mi, "lib/b.so");
    assert_int_equal(bl_swarm_start(f, &err), 0);
    add_listener(f, seed);
    bl_loop_timer(c.loop, 20000, on_timeout, NULL);
    bl_loop_run(c.loop);
    assert_int_equal(c.complete, 1);
    run_for(c.loop, 1000); /* a "not interested" would have been answered by a choke */
    bl_swarm_peer_stats ps[4];
    assert_int_equal(bl_swarm_list_peers(f, ps, 4, false), 1);
    assert_false(ps[0].coop);
    assert_true(ps[0].interested);
    assert_false(ps[0].choked);
    /* the next open is served at once */
    c.complete = 0;
    want_file(f, &mi, "lib/a.so");
    const bl_mentry *e = bl_metainfo_lookup(&mi, "lib/a.so");
    bl_loop_timer(c.loop, 20000, on_timeout, NULL);
    bl_loop_run(c.loop);
    assert_int_equal(c.complete, 1);
    assert_true(bl_store_file_ready(bl_swarm_store(f), (size_t)e->file, 0, e->size));
    bl_swarm_free(f);
    bl_swarm_free(seed);
    bl_loop_free(c.loop);
    bl_metainfo_free(&mi);
}

/* A scripted peer connected to sw: its socket and what it received. */
typedef struct fake {
    int fd;
    bl_buf in;
} fake;

static void fake_connect(fake *fk, bl_swarm *sw, const bl_metainfo *mi, const uint8_t id[20],
                         const char *ext)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bl_err err;
    assert_int_equal(bl_net_parse_hostport(bl_swarm_listen_addr(sw), &ss, &len, &err), 0);
    fk->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fk->fd, (struct sockaddr *)&ss, len), 0);
    bl_buf_init(&fk->in);
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_handshake_encode(&b, mi->info_hash, id, BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
    bl_wire_put_extended(&b, BL_EXT_HANDSHAKE_ID, ext, strlen(ext));
    assert_int_equal(write(fk->fd, b.data, b.len), (ssize_t)b.len);
    bl_buf_free(&b);
}

static void fake_send_ext(fake *fk, uint8_t ext_id, const char *payload)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_put_extended(&b, ext_id, payload, strlen(payload));
    assert_int_equal(write(fk->fd, b.data, b.len), (ssize_t)b.len);
    bl_buf_free(&b);
}

/* Read what arrived; count the PEX messages (sent with ext id pex_id)
 * naming a peer on port `port`. */
static int fake_pex_naming(fake *fk, const bl_metainfo *mi, uint8_t pex_id, uint16_t port)
{
    bl_err err;
    bl_net_set_nonblock(fk->fd, true, &err);
    for (;;) {
        assert_true(bl_buf_reserve(&fk->in, 65536));
        ssize_t n = read(fk->fd, fk->in.data + fk->in.len, 65536);
        if (n <= 0)
            break;
        fk->in.len += (size_t)n;
    }
    bl_wire_geometry g = {.num_pieces = mi->num_pieces, .piece_length = (uint32_t)mi->piece_length,
                          .last_piece_length = bl_metainfo_piece_size(mi, mi->num_pieces - 1)};
    int found = 0;
    for (size_t off = BL_WIRE_HANDSHAKE_LEN; off < fk->in.len;) {
        bl_msg m;
        size_t used;
        if (bl_wire_decode(fk->in.data + off, fk->in.len - off, &g, NULL, &m, &used, &err) !=
            BL_WIRE_MESSAGE)
            break;
        off += used;
        static bl_pex pex;
        if (m.type != BL_MSG_EXTENDED || m.ext_id != pex_id ||
            bl_pex_decode(m.data, m.data_len, &pex, &err) < 0)
            continue;
        for (size_t i = 0; i < pex.n_added; i++)
            found += pex.added[i].port == port;
    }
    return found;
}

static bool has_client(bl_swarm *sw, const char *client)
{
    bl_swarm_peer_stats ps[8];
    size_t n = bl_swarm_list_peers(sw, ps, 8, false);
    for (size_t i = 0; i < n && i < 8; i++)
        if (!strcmp(ps[i].client, client))
            return true;
    return false;
}

/* BEP 10: a later extension handshake carries changes only.  A cooperative
 * peer that disables one extension keeps its client name and its other
 * extensions (here: PEX, which it keeps getting); disabling PEX itself
 * (id 0) stops PEX and nothing else. */
static void test_ext_handshake_update(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/ext", tmp);
    bl_swarm_config fc = {.mi = &mi, .dir = dir, .listen = "127.0.0.1:0"};
    bl_swarm *sw = bl_swarm_new(loop, &fc, &err);
    assert_non_null(sw);
    assert_int_equal(bl_swarm_start(sw, &err), 0);

    static const uint8_t id1[20] = "-XX0001-aaaaaaaaaaaa", id2[20] = "-XX0001-bbbbbbbbbbbb",
                         id3[20] = "-XX0001-cccccccccccc";
    fake f1, f2, f3;
    fake_connect(&f1, sw, &mi, id1, "d11:bitlib_coopi1e1:md13:bitlib_intenti3e11:ut_metadatai2e"
                                    "6:ut_pexi1ee1:pi1111e1:v12:FakeCoop 1.0e");
    run_for(loop, 200);
    assert_true(has_client(sw, "FakeCoop 1.0"));
    fake_send_ext(&f1, BL_EXT_HANDSHAKE_ID, "d1:md11:ut_metadatai0eee");
    run_for(loop, 100);
    assert_true(has_client(sw, "FakeCoop 1.0"));
    /* a newcomer with a listen port: cooperative peers hear of it at once */
    fake_connect(&f2, sw, &mi, id2, "d1:md6:ut_pexi1ee1:pi2222ee");
    run_for(loop, 500);
    assert_int_equal(fake_pex_naming(&f1, &mi, 1, 2222), 1);

    fake_send_ext(&f1, BL_EXT_HANDSHAKE_ID, "d1:md6:ut_pexi0eee");
    run_for(loop, 100);
    fake_connect(&f3, sw, &mi, id3, "d1:md6:ut_pexi1ee1:pi3333ee");
    run_for(loop, 500);
    assert_int_equal(fake_pex_naming(&f1, &mi, 1, 3333), 0);
    assert_true(has_client(sw, "FakeCoop 1.0"));
    bl_swarm_stats st;
    bl_swarm_get_stats(sw, &st);
    assert_int_equal(st.peers, 3);

    fake *all[] = {&f1, &f2, &f3};
    for (int i = 0; i < 3; i++) {
        close(all[i]->fd);
        bl_buf_free(&all[i]->in);
    }
    bl_swarm_free(sw);
    bl_loop_free(loop);
    bl_metainfo_free(&mi);
}

/* True once the peer closed fd (EOF or reset). */
static bool closed_by_peer(int fd)
{
    char c[4096];
    bl_err err;
    bl_net_set_nonblock(fd, true, &err);
    for (;;) {
        ssize_t n = read(fd, c, sizeof c);
        if (n > 0)
            continue;
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
}

/* A stock peer (libtorrent 2 uses a new peer id on every connection) and
 * the swarm dialled each other: the two connections, found by the listen
 * address the incoming one names, become one.  The side with the lower
 * listen port keeps the connection it opened.  If the peer closes one
 * itself within the grace period, the other stays. */
static void duplicate_by_address(bool peer_settles)
{
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/dupaddr", tmp);
    bl_swarm_config fc = {.mi = &mi, .dir = dir, .listen = "127.0.0.1:0"};
    bl_swarm *sw = bl_swarm_new(loop, &fc, &err);
    assert_non_null(sw);
    bl_swarm_want_all(sw, BL_PRIO_BULK);
    assert_int_equal(bl_swarm_start(sw, &err), 0);

    struct sockaddr_storage q;
    socklen_t qlen;
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &q, &qlen, &err), 0);
    int lfd = bl_net_tcp_listen((struct sockaddr *)&q, qlen, 8, &err);
    assert_true(lfd >= 0);
    assert_int_equal(bl_net_local_addr(lfd, &q, &qlen, &err), 0);
    uint16_t qport = bl_net_port((struct sockaddr *)&q);
    assert_int_equal(bl_swarm_add_peer(sw, (struct sockaddr *)&q, qlen), 0);
    run_for(loop, 100);
    int out_side = accept(lfd, NULL, NULL);
    assert_true(out_side >= 0);
    static const uint8_t id_a[20] = "-XX0001-aaaaaaaaaaaa", id_b[20] = "-XX0001-bbbbbbbbbbbb";
    send_handshake(out_side, &mi, id_a, 0);
    run_for(loop, 100);
    char ext[64];
    snprintf(ext, sizeof ext, "d1:md6:ut_pexi1ee1:pi%uee", (unsigned)qport);
    fake in;
    fake_connect(&in, sw, &mi, id_b, ext);
    run_for(loop, 500);
    bl_swarm_stats st;
    bl_swarm_get_stats(sw, &st);
    assert_int_equal(st.peers, 2); /* within the grace period both live */
    if (peer_settles) {
        close(out_side); /* the peer keeps the connection it opened */
        out_side = -1;
    }
    run_for(loop, 4000);
    bl_swarm_get_stats(sw, &st);
    assert_int_equal(st.peers, 1);
    assert_int_equal(st.dials, 1);
    if (peer_settles) {
        assert_false(closed_by_peer(in.fd));
    } else {
        struct sockaddr_storage me;
        socklen_t mlen;
        assert_int_equal(bl_net_parse_hostport(bl_swarm_listen_addr(sw), &me, &mlen, &err), 0);
        bool keep_ours = bl_net_port((struct sockaddr *)&me) < qport;
        assert_int_equal(closed_by_peer(out_side), !keep_ours);
        assert_int_equal(closed_by_peer(in.fd), keep_ours);
        close(out_side);
    }
    bl_net_set_nonblock(lfd, true, &err);
    assert_true(accept(lfd, NULL, NULL) < 0); /* and it was not dialled again */
    close(in.fd);
    bl_buf_free(&in.in);
    close(lfd);
    bl_swarm_free(sw);
    bl_loop_free(loop);
    bl_metainfo_free(&mi);
}

/* A long-lived daemon meets more peers than it keeps candidates for (every
 * job's mounts listen on new ports): once the table is full, a new address
 * takes a dead one's place and is dialled, instead of being refused. */
static void test_candidates_full_new_peer_dialled(void **state)
{
    (void)state;
    bl_metainfo mi;
    make_mi(&mi);
    bl_err err;
    bl_loop *loop = bl_loop_new(&err);
    assert_non_null(loop);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/full", tmp);
    bl_swarm_config fc = {.mi = &mi, .dir = dir, .listen = "127.0.0.1:0"};
    bl_swarm *sw = bl_swarm_new(loop, &fc, &err);
    if (!sw)
        fail_msg("fetch: %s", err.msg);
    bl_swarm_want_all(sw, BL_PRIO_BULK);
    assert_int_equal(bl_swarm_start(sw, &err), 0);
    /* 5000 peers that were (nothing listens on 127.0.0.3), more than the table holds */
    for (int i = 1; i <= 5000; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)i)};
        a.sin_addr.s_addr = htonl(0x7f000003);
        assert_int_equal(bl_swarm_add_peer(sw, (struct sockaddr *)&a, sizeof a), 0);
    }
    struct sockaddr_storage q;
    socklen_t qlen;
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &q, &qlen, &err), 0);
    int lfd = bl_net_tcp_listen((struct sockaddr *)&q, qlen, 8, &err);
    assert_true(lfd >= 0);
    assert_int_equal(bl_net_local_addr(lfd, &q, &qlen, &err), 0);
    assert_int_equal(bl_swarm_add_peer(sw, (struct sockaddr *)&q, qlen), 0);
    run_for(loop, 300);
    bl_net_set_nonblock(lfd, true, &err);
    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);   /* the newcomer was dialled */
    close(c);
    close(lfd);
    bl_swarm_free(sw);
    bl_loop_free(loop);
    bl_metainfo_free(&mi);
}

static void test_duplicate_by_address(void **state)
{
    (void)state;
    duplicate_by_address(false);
}

static void test_duplicate_settled_by_peer(void **state)
{
    (void)state;
    duplicate_by_address(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_to_fetchers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_not_redialled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_refuses_bad_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_keeps_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_want, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stock_seeder_keeps_us_unchoked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ext_handshake_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_by_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_settled_by_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_candidates_full_new_peer_dialled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
