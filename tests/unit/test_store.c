/* Unit tests for the piece store (src/swarm/store.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bencode.h"
#include "core/buf.h"
#include "core/sha1.h"
#include "meta/create.h"
#include "meta/metainfo.h"
#include "swarm/store.h"

#define BS (16u * 1024u)

/* ---- fixtures ---- */

typedef struct tfile {
    const char *path;
    uint64_t length;
    bool pad;
} tfile;

/* The whole byte stream of a test torrent: file bytes are a function of
 * (file index, offset), padding is zero. */
static uint8_t *make_stream(const tfile *files, size_t n, uint64_t *total)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++) t += files[i].length;
    uint8_t *s = calloc(t ? t : 1, 1);
    assert_non_null(s);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        for (uint64_t k = 0; k < files[i].length; k++)
            s[pos + k] = files[i].pad ? 0 : (uint8_t)(k * 31 + i * 7 + (k >> 8) + 1);
        pos += files[i].length;
    }
    *total = t;
    return s;
}

static void enc_path(bl_buf *b, const char *path)
{
    bl_benc_list(b);
    const char *p = path;
    for (;;) {
        const char *sl = strchr(p, '/');
        size_t n = sl ? (size_t)(sl - p) : strlen(p);
        bl_benc_str(b, p, n);
        if (!sl) break;
        p = sl + 1;
    }
    bl_benc_end(b);
}

/* Hand-encode a stock-style v1 torrent (single-file if single) whose piece
 * hashes cover stream (padding bytes as given in stream). */
static void make_torrent(bl_metainfo *mi, const tfile *files, size_t n, bool single,
                         uint32_t piece_len, const uint8_t *stream, uint64_t total)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_benc_dict(&b);
    bl_benc_cstr(&b, "info");
    bl_benc_dict(&b);
    if (single) {
        bl_benc_cstr(&b, "length");
        bl_benc_int(&b, (int64_t)files[0].length);
    } else {
        bl_benc_cstr(&b, "files");
        bl_benc_list(&b);
        for (size_t i = 0; i < n; i++) {
            bl_benc_dict(&b);
            if (files[i].pad) {
                bl_benc_cstr(&b, "attr");
                bl_benc_cstr(&b, "p");
            }
            bl_benc_cstr(&b, "length");
            bl_benc_int(&b, (int64_t)files[i].length);
            bl_benc_cstr(&b, "path");
            enc_path(&b, files[i].path);
            bl_benc_end(&b);
        }
        bl_benc_end(&b);
    }
    bl_benc_cstr(&b, "name");
    bl_benc_cstr(&b, single ? files[0].path : "set");
    bl_benc_cstr(&b, "piece length");
    bl_benc_int(&b, piece_len);
    bl_benc_cstr(&b, "pieces");
    uint64_t np = (total + piece_len - 1) / piece_len;
    uint8_t *h = malloc(np * BL_SHA1_LEN + 1);
    for (uint64_t i = 0; i < np; i++) {
        uint64_t len = total - i * piece_len < piece_len ? total - i * piece_len : piece_len;
        bl_sha1(stream + i * piece_len, len, h + i * BL_SHA1_LEN);
    }
    bl_benc_str(&b, h, np * BL_SHA1_LEN);
    free(h);
    bl_benc_end(&b);
    bl_benc_end(&b);
    assert_false(b.oom);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    bl_err err = {0};
    if (bl_metainfo_parse(mi, raw, len, &err) < 0) fail_msg("parse: %s", err.msg);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/bl_store_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tpath(const char *rel)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, rel);
    return buf[k];
}

/* Feed every piece (all blocks in a shuffled order) and verify it. */
static void fill_store(bl_store *s, const bl_metainfo *mi, const uint8_t *stream, unsigned seed)
{
    srand(seed);
    for (uint32_t i = 0; i < mi->num_pieces; i++) {
        if (bl_store_have(s, i)) continue;
        uint32_t psize = bl_metainfo_piece_size(mi, i), nb = (psize + BS - 1) / BS;
        uint32_t order[64];
        assert_true(nb <= 64);
        for (uint32_t k = 0; k < nb; k++) order[k] = k;
        for (uint32_t k = nb; k > 1; k--) {
            uint32_t j = (uint32_t)rand() % k, t = order[k - 1];
            order[k - 1] = order[j];
            order[j] = t;
        }
        bl_err err = {0};
        for (uint32_t k = 0; k < nb; k++) {
            uint32_t off = order[k] * BS, len = psize - off < BS ? psize - off : BS;
            int rc = bl_store_write_block(s, i, off, stream + (uint64_t)i * mi->piece_length + off,
                                          len, &err);
            if (rc < 0) fail_msg("write: %s", err.msg);
            assert_int_equal(rc, k + 1 == nb);
        }
        if (bl_store_verify(s, i, &err) != 0) fail_msg("verify: %s", err.msg);
        assert_true(bl_store_have(s, i));
    }
    assert_true(bl_store_complete(s));
    assert_int_equal(bl_store_num_pending(s), 0);
}

static void assert_file_content(const char *path, const uint8_t *want, uint64_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, len);
    uint8_t *got = malloc(len + 1);
    assert_int_equal(pread(fd, got, len, 0), (ssize_t)len);
    assert_memory_equal(got, want, len);
    free(got);
    close(fd);
}

/* ---- tests ---- */

/* Stock layout: no padding, pieces span several files, an empty file. */
static const tfile spanning[] = {
    {"a", 10000, false}, {"empty", 0, false}, {"c/d", 40000, false}, {"c/e/f", 5, false},
    {"z", 70000, false},
};

static void test_spanning_pieces(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(spanning, 5, &total);
    bl_metainfo mi;
    make_torrent(&mi, spanning, 5, false, 2 * BS, stream, total);
    assert_int_equal(mi.num_pieces, 4);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    if (!s) fail_msg("open: %s", err.msg);
    /* Empty files at once; the others when their first piece is written,
     * sparse at full length. */
    struct stat st;
    assert_int_equal(stat(tpath("cache/c/d"), &st), -1);
    assert_int_equal(stat(tpath("cache/empty"), &st), 0);
    assert_int_equal(st.st_size, 0);
    /* piece 1 is bytes 32768..65535: the end of c/d only */
    for (uint32_t off = 0; off < 2 * BS; off += BS)
        assert_true(bl_store_write_block(s, 1, off, stream + 2 * BS + off, BS, &err) >= 0);
    assert_int_equal(bl_store_verify(s, 1, &err), 0);
    assert_int_equal(stat(tpath("cache/c/d"), &st), 0);
    assert_int_equal(st.st_size, 40000);
    assert_int_equal(stat(tpath("cache/a"), &st), -1);
    assert_false(bl_store_file_ready(s, 0, 0, 10));
    uint8_t buf[100];
    assert_int_equal(bl_store_read_file(s, 0, 0, 10, buf, &err), BL_STORE_NOT_HAD);
    assert_int_equal(bl_store_read(s, 0, 0, 10, buf, &err), BL_STORE_NOT_HAD);

    fill_store(s, &mi, stream, 1);
    uint8_t bits[1] = {0xf0};
    assert_int_equal(bl_store_bitfield_len(s), 1);
    assert_memory_equal(bl_store_bitfield(s), bits, 1);

    assert_file_content(tpath("cache/a"), stream, 10000);
    assert_file_content(tpath("cache/c/d"), stream + 10000, 40000);
    assert_file_content(tpath("cache/c/e/f"), stream + 50000, 5);
    assert_file_content(tpath("cache/z"), stream + 50005, 70000);

    /* Piece-level reads across file boundaries, and file-level reads. */
    uint8_t *out = malloc(2 * BS);
    for (uint32_t i = 0; i < mi.num_pieces; i++) {
        uint32_t ps = bl_metainfo_piece_size(&mi, i);
        assert_int_equal(bl_store_read(s, i, 0, ps, out, &err), 0);
        assert_memory_equal(out, stream + (uint64_t)i * 2 * BS, ps);
    }
    assert_int_equal(bl_store_read(s, 0, 2 * BS - 10, 11, out, &err), -1); /* beyond the piece */
    assert_int_equal(bl_store_read_file(s, 2, 39990, 100, out, &err), 10);  /* short at EOF */
    assert_memory_equal(out, stream + 10000 + 39990, 10);
    assert_int_equal(bl_store_read_file(s, 1, 0, 100, out, &err), 0);      /* empty file */
    assert_int_equal(bl_store_read_file(s, 2, 40000, 100, out, &err), 0);
    free(out);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

static void test_corrupt_block(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(spanning, 5, &total);
    bl_metainfo mi;
    make_torrent(&mi, spanning, 5, false, 2 * BS, stream, total);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    uint8_t bad[BS];
    memcpy(bad, stream + BS, BS);
    bad[100] ^= 1;
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, BS, &err), 0);
    assert_int_equal(bl_store_verify(s, 0, &err), -1); /* not complete */
    assert_int_equal(bl_store_write_block(s, 0, BS, bad, BS, &err), 1);
    assert_int_equal(bl_store_verify(s, 0, &err), BL_STORE_HASH_FAIL);
    assert_non_null(strstr(err.msg, "SHA-1"));
    assert_false(bl_store_have(s, 0));
    assert_int_equal(bl_store_num_pending(s), 0);
    /* Nothing reached the files: not even created. */
    struct stat st;
    assert_int_equal(stat(tpath("cache/a"), &st), -1);
    uint8_t out[16];
    assert_int_equal(bl_store_read_file(s, 0, 0, 16, out, &err), BL_STORE_NOT_HAD);
    /* The right data afterwards is accepted. */
    assert_int_equal(bl_store_write_block(s, 0, BS, stream + BS, BS, &err), 0);
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, BS, &err), 1);
    assert_int_equal(bl_store_verify(s, 0, &err), 0);
    assert_file_content(tpath("cache/a"), stream, 10000);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

static void test_bad_writes(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(spanning, 5, &total);
    bl_metainfo mi;
    make_torrent(&mi, spanning, 5, false, 2 * BS, stream, total);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    uint32_t last_size = bl_metainfo_piece_size(&mi, 3);
    assert_int_equal(last_size, total - 3 * 2 * BS);
    assert_int_equal(bl_store_write_block(s, 0, 100, stream, BS, &err), -1);    /* unaligned */
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, 100, &err), -1);     /* partial block */
    assert_int_equal(bl_store_write_block(s, 0, BS, stream, 2 * BS, &err), -1); /* past the end */
    assert_int_equal(bl_store_write_block(s, 9, 0, stream, BS, &err), -1);      /* no such piece */
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, 0, &err), -1);
    /* A whole piece in one call; the short last block of the last piece. */
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, 2 * BS, &err), 1);
    assert_int_equal(bl_store_verify(s, 0, &err), 0);
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, BS, &err), -1); /* already had */
    const uint8_t *lp = stream + 3 * 2 * BS;
    assert_int_equal(bl_store_write_block(s, 3, BS, lp + BS, last_size - BS, &err), 0);
    /* Bounded number of pieces in flight. */
    bl_store_set_limits(s, 1, 0);
    assert_int_equal(bl_store_write_block(s, 2, 0, stream, BS, &err), -1);
    assert_non_null(strstr(err.msg, "in flight"));
    bl_store_drop_pending(s, 3);
    assert_int_equal(bl_store_write_block(s, 2, 0, stream + 2 * 2 * BS, BS, &err), 0);
    bl_store_close(s);

    /* Read-only stores refuse writes and never create anything. */
    s = bl_store_open(&mi, tpath("nonexistent"), BL_STORE_READONLY, &err);
    assert_null(s);
    s = bl_store_open(&mi, tpath("cache"), BL_STORE_READONLY | BL_STORE_CREATE, &err);
    assert_null(s);
    s = bl_store_open(&mi, tpath("cache"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_write_block(s, 1, 0, stream, BS, &err), -1);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

struct progress {
    uint32_t calls, last, total;
};

static void on_progress(uint32_t done, uint32_t total, void *ud)
{
    struct progress *p = ud;
    assert_true(done >= p->last);
    p->calls++;
    p->last = done;
    p->total = total;
}

static void test_restart_check(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(spanning, 5, &total);
    bl_metainfo mi;
    make_torrent(&mi, spanning, 5, false, BS, stream, total); /* 8 pieces */
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    fill_store(s, &mi, stream, 2);
    bl_store_close(s);

    for (int threads = 1; threads <= 3; threads++) {
        s = bl_store_open(&mi, tpath("cache"), BL_STORE_READONLY, &err);
        assert_non_null(s);
        assert_int_equal(bl_store_num_had(s), 0);
        struct progress pr = {0};
        assert_int_equal(bl_store_check(s, threads, on_progress, &pr, &err), mi.num_pieces);
        assert_true(bl_store_complete(s));
        assert_true(pr.calls >= 1);
        assert_int_equal(pr.total, mi.num_pieces);
        if (threads == 1) assert_int_equal(pr.last, mi.num_pieces);
        bl_store_close(s);
    }

    /* One flipped byte in c/d (stream offset 20000: piece 1) and a
     * truncated z (its last piece) are found. */
    int fd = open(tpath("cache/c/d"), O_RDWR);
    uint8_t x = (uint8_t)(stream[20000] ^ 0xff);
    assert_int_equal(pwrite(fd, &x, 1, 10000), 1);
    close(fd);
    assert_int_equal(truncate(tpath("cache/z"), 70000 - 1), 0);
    s = bl_store_open(&mi, tpath("cache"), 0, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 0, NULL, NULL, &err), mi.num_pieces - 2);
    assert_false(bl_store_have(s, 1));
    assert_false(bl_store_have(s, mi.num_pieces - 1));
    assert_true(bl_store_have(s, 0));
    assert_true(bl_store_have(s, 2));
    uint8_t out[BS];
    assert_int_equal(bl_store_read(s, 1, 0, 10, out, &err), BL_STORE_NOT_HAD);
    assert_int_equal(bl_store_read(s, 2, 0, BS, out, &err), 0);
    assert_memory_equal(out, stream + 2 * BS, BS);
    bl_store_close(s);

    /* A missing file: its pieces are not had, the rest are. */
    assert_int_equal(unlink(tpath("cache/a")), 0);
    s = bl_store_open(&mi, tpath("cache"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 2, NULL, NULL, &err), mi.num_pieces - 3);
    assert_false(bl_store_have(s, 0));
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

/* BEP 47 padding: never stored, reads as zeros, must be zero. */
static const tfile padded[] = {
    {"x", 100, false}, {".pad/16284", BS - 100, true}, {"y", 20000, false},
};

static void test_padding(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(padded, 3, &total);
    bl_metainfo mi;
    make_torrent(&mi, padded, 3, false, BS, stream, total);
    assert_int_equal(mi.num_pieces, 3);
    assert_true(mi.files[1].attr & BL_ATTR_PAD);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    fill_store(s, &mi, stream, 3);
    struct stat st;
    assert_int_equal(stat(tpath("cache/.pad"), &st), -1);
    assert_file_content(tpath("cache/x"), stream, 100);
    assert_file_content(tpath("cache/y"), stream + BS, 20000);
    uint8_t out[BS];
    assert_int_equal(bl_store_read(s, 0, 0, BS, out, &err), 0);
    assert_memory_equal(out, stream, BS);
    assert_int_equal(bl_store_read_file(s, 1, 0, 10, out, &err), -1); /* padding is no file */
    bl_store_close(s);

    /* Trailing padding need not be sent: piece 0 is x's 100 bytes, then zeros. */
    assert_int_equal(bl_metainfo_piece_data_len(&mi, 0), 100);
    assert_int_equal(bl_metainfo_piece_data_len(&mi, 1), BS);
    assert_int_equal(bl_metainfo_piece_data_len(&mi, 2), 20000 - BS);
    s = bl_store_open(&mi, tpath("cache3"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, 99, &err), -1); /* not at a boundary */
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, 100, &err), 1);
    assert_int_equal(bl_store_verify(s, 0, &err), 0);
    assert_file_content(tpath("cache3/x"), stream, 100);
    bl_store_close(s);
    bl_metainfo_free(&mi);

    /* A description whose hash covers non-zero padding is refused at write. */
    stream[500] = 0x55;
    make_torrent(&mi, padded, 3, false, BS, stream, total);
    s = bl_store_open(&mi, tpath("cache2"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_write_block(s, 0, 0, stream, BS, &err), 1);
    assert_int_equal(bl_store_verify(s, 0, &err), -1);
    assert_non_null(strstr(err.msg, "padding"));
    assert_false(bl_store_have(s, 0));
    /* ...and the check treats padding as zeros, so never marks it had. */
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), 0);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

static void test_single_file(void **state)
{
    (void)state;
    const tfile one[] = {{"lib.so", 3 * BS + 7, false}};
    uint64_t total;
    uint8_t *stream = make_stream(one, 1, &total);
    bl_metainfo mi;
    make_torrent(&mi, one, 1, true, 2 * BS, stream, total);
    assert_true(mi.single_file);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    fill_store(s, &mi, stream, 4);
    assert_file_content(tpath("cache/lib.so"), stream, total);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

static void test_empty_torrent(void **state)
{
    (void)state;
    const tfile none[] = {{"e1", 0, false}, {"d/e2", 0, false}};
    uint64_t total;
    uint8_t *stream = make_stream(none, 2, &total);
    bl_metainfo mi;
    make_torrent(&mi, none, 2, false, BS, stream, total);
    assert_int_equal(mi.num_pieces, 0);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    assert_true(bl_store_complete(s));
    assert_int_equal(bl_store_check(s, 0, NULL, NULL, &err), 0);
    struct stat st;
    assert_int_equal(stat(tpath("cache/d/e2"), &st), 0);
    uint8_t out[4];
    assert_int_equal(bl_store_read_file(s, 1, 0, 4, out, &err), 0);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

/* A symlink planted inside the cache must not lead outside it. */
static void test_path_escape(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(spanning, 5, &total);
    bl_metainfo mi;
    make_torrent(&mi, spanning, 5, false, 2 * BS, stream, total);
    bl_err err = {0};
    assert_int_equal(mkdir(tpath("outside"), 0755), 0);
    assert_int_equal(mkdir(tpath("cache"), 0755), 0);
    assert_int_equal(symlink(tpath("outside"), tpath("cache/c")), 0);
    bl_store *s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    /* piece 1 lies in c/d: writing it is refused (a local problem of the
     * cache, not the peers' fault) */
    for (uint32_t off = 0; off < 2 * BS; off += BS)
        assert_true(bl_store_write_block(s, 1, off, stream + 2 * BS + off, BS, &err) >= 0);
    assert_int_equal(bl_store_verify(s, 1, &err), BL_STORE_WRITE_FAIL);
    assert_non_null(strstr(err.msg, "symlink"));
    assert_false(bl_store_have(s, 1));
    bl_store_close(s);
    struct stat st;
    assert_int_equal(stat(tpath("outside/d"), &st), -1); /* nothing created outside */

    /* Same through a file symlink; a seeder's check refuses the data. */
    unlink(tpath("cache/c"));
    s = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    fill_store(s, &mi, stream, 5);
    bl_store_close(s);
    assert_int_equal(rename(tpath("cache/a"), tpath("outside/a")), 0);
    assert_int_equal(symlink(tpath("outside/a"), tpath("cache/a")), 0);
    s = bl_store_open(&mi, tpath("cache"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), mi.num_pieces - 1);
    assert_false(bl_store_have(s, 0));
    bl_store_close(s);
    bl_metainfo_free(&mi);

    /* The parser refuses '..' components before the store ever sees them. */
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_puts(&b, "d4:infod5:filesld6:lengthi10e4:pathl2:..1:xeee4:name3:set"
                    "12:piece lengthi16384e6:pieces20:");
    uint8_t h[BL_SHA1_LEN] = {0};
    bl_buf_put(&b, h, sizeof h);
    bl_buf_puts(&b, "ee");
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    assert_int_equal(bl_metainfo_parse(&mi, raw, len, &err), -1);
    free(stream);
}

/* A description built by bitlib create (aligned, padded) against the very
 * directory it was made from: the seeder case. */
static void test_seed_from_create(void **state)
{
    (void)state;
    assert_int_equal(mkdir(tpath("src"), 0755), 0);
    assert_int_equal(mkdir(tpath("src/lib"), 0755), 0);
    const char *names[] = {"src/lib/libA.so", "src/lib/libB.so", "src/bin", "src/empty"};
    const size_t sizes[] = {70000, 3, 40000, 0};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(tpath(names[i]), "w");
        assert_non_null(f);
        for (size_t k = 0; k < sizes[i]; k++) fputc((int)((k * 13 + (size_t)i) & 0xff), f);
        fclose(f);
    }
    const char *dirs[] = {tpath("src")};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .piece_length = 2 * BS, .threads = 1};
    bl_buf out;
    bl_buf_init(&out);
    bl_err err = {0};
    if (bl_create(&o, &out, NULL, &err) < 0) fail_msg("create: %s", err.msg);
    size_t len;
    uint8_t *raw = bl_buf_steal(&out, &len);
    bl_metainfo mi;
    if (bl_metainfo_parse(&mi, raw, len, &err) < 0) fail_msg("parse: %s", err.msg);

    bl_store *s = bl_store_open(&mi, tpath("src"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 2, NULL, NULL, &err), mi.num_pieces);
    assert_true(bl_store_complete(s));

    /* Rebuild the stream from the seeder's pieces into a fresh cache with a
     * tiny fd cap, then compare every file through the file-level read. */
    bl_store *c = bl_store_open(&mi, tpath("cache"), BL_STORE_CREATE, &err);
    assert_non_null(c);
    bl_store_set_limits(c, 2, 1);
    uint8_t *piece = malloc(mi.piece_length);
    for (uint32_t i = mi.num_pieces; i-- > 0;) {
        uint32_t ps = bl_metainfo_piece_size(&mi, i);
        assert_int_equal(bl_store_read(s, i, 0, ps, piece, &err), 0);
        assert_int_equal(bl_store_write_block(c, i, 0, piece, ps, &err), 1);
        assert_int_equal(bl_store_verify(c, i, &err), 0);
    }
    for (size_t f = 0; f < mi.num_files; f++) {
        if (mi.files[f].attr & BL_ATTR_PAD) continue;
        uint64_t flen = mi.files[f].length;
        uint8_t *a = malloc(flen + 1), *b = malloc(flen + 1);
        assert_int_equal(bl_store_read_file(s, f, 0, flen + 1, a, &err), (int64_t)flen);
        assert_int_equal(bl_store_read_file(c, f, 0, flen + 1, b, &err), (int64_t)flen);
        assert_memory_equal(a, b, flen);
        free(a);
        free(b);
    }
    free(piece);
    bl_store_close(c);
    bl_store_close(s);
    bl_metainfo_free(&mi);
}

/* Lengths are part of the description (issue 10, defect 3): a copy whose
 * file has bytes appended verifies piece by piece, yet is not the described
 * copy.  A writable store (fetch, mount) cuts it to length; a read-only one
 * (seed) refuses it, naming the file. */
static void test_appended_bytes(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(padded, 3, &total);
    bl_metainfo mi;
    make_torrent(&mi, padded, 3, false, BS, stream, total);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("copy"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    fill_store(s, &mi, stream, 5);
    bl_store_close(s);
    int fd = open(tpath("copy/x"), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "extra", 5), 5);
    close(fd);

    s = bl_store_open(&mi, tpath("copy"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "'x' is 105 bytes but the description says 100"));
    bl_store_close(s);

    s = bl_store_open(&mi, tpath("copy"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), mi.num_pieces);
    bl_store_close(s);
    assert_file_content(tpath("copy/x"), stream, 100);

    s = bl_store_open(&mi, tpath("copy"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), mi.num_pieces);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

static size_t file_index(const bl_metainfo *mi, const char *path)
{
    for (size_t f = 0; f < mi->num_files; f++)
        if (!strcmp(mi->files[f].path, path)) return f;
    fail_msg("no file %s", path);
    return 0;
}

/* n bytes of file f at 0, read for serving */
static int served(bl_store *s, size_t f)
{
    uint8_t buf[64];
    bl_err err;
    return bl_store_read_served(s, f, 0, sizeof buf, buf, &err);
}

/* A seeder's copy altered on disk while it is served (issue 13): a read for
 * serving from a changed file is checked after the read; the file's pieces
 * are hashed again, those that no longer match are had no more, the
 * generation moves and the read says BL_STORE_CHANGED.  A change of times alone loses nothing and keeps the
 * generation.  BITLIB_SERVE_GUARD=0 turns the check off. */
static void test_seed_file_changed(void **state)
{
    (void)state;
    uint64_t total;
    uint8_t *stream = make_stream(spanning, 5, &total);
    bl_metainfo mi;
    make_torrent(&mi, spanning, 5, false, BS, stream, total);
    bl_err err = {0};
    bl_store *s = bl_store_open(&mi, tpath("copy"), BL_STORE_CREATE, &err);
    assert_non_null(s);
    fill_store(s, &mi, stream, 3);
    bl_store_close(s);

    s = bl_store_open(&mi, tpath("copy"), BL_STORE_READONLY, &err);
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), mi.num_pieces);
    size_t z = file_index(&mi, "z"), a = file_index(&mi, "a");
    assert_true(bl_store_guarded(s));
    assert_int_equal(served(s, z), 0);
    assert_int_equal(bl_store_generation(s), 0);

    /* one byte of z changes: exactly the piece holding it is lost */
    int fd = open(tpath("copy/z"), O_WRONLY);
    assert_true(fd >= 0);
    uint8_t b = (uint8_t)(stream[mi.files[z].offset + 50000] ^ 0xff);
    assert_int_equal(pwrite(fd, &b, 1, 50000), 1);
    close(fd);
    uint32_t lost_piece = (uint32_t)((mi.files[z].offset + 50000) / BS);
    assert_int_equal(served(s, z), BL_STORE_CHANGED);
    assert_int_equal(bl_store_generation(s), 1);
    assert_int_equal(bl_store_pieces_lost(s), 1);
    assert_int_equal(bl_store_num_had(s), mi.num_pieces - 1);
    assert_false(bl_store_have(s, lost_piece));
    uint8_t buf[BS];
    assert_int_equal(bl_store_read(s, lost_piece, 0, 16, buf, &err), BL_STORE_NOT_HAD);
    /* asking again finds nothing new */
    assert_int_equal(served(s, z), 0);
    assert_int_equal(bl_store_generation(s), 1);

    /* new times, same bytes: re-hashed, nothing lost */
    assert_int_equal(utimensat(AT_FDCWD, tpath("copy/a"), NULL, 0), 0);
    assert_int_equal(served(s, a), 0);
    assert_int_equal(bl_store_generation(s), 1);
    assert_int_equal(bl_store_num_had(s), mi.num_pieces - 1);
    bl_store_close(s);

    /* the check can be turned off for measurements */
    setenv("BITLIB_SERVE_GUARD", "0", 1);
    s = bl_store_open(&mi, tpath("copy"), BL_STORE_READONLY, &err);
    unsetenv("BITLIB_SERVE_GUARD");
    assert_non_null(s);
    assert_int_equal(bl_store_check(s, 1, NULL, NULL, &err), mi.num_pieces - 1);
    fd = open(tpath("copy/a"), O_WRONLY);
    assert_int_equal(pwrite(fd, "?", 1, 0), 1);
    close(fd);
    assert_false(bl_store_guarded(s));
    assert_int_equal(served(s, a), 0);
    assert_int_equal(bl_store_generation(s), 0);
    bl_store_close(s);
    bl_metainfo_free(&mi);
    free(stream);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spanning_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_padding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_torrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_from_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appended_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_file_changed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
