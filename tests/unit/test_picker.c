/* Unit tests for the piece picker (src/swarm/picker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "swarm/picker.h"

#define BS BL_BLOCK_SIZE

static void set_bit(uint8_t *bits, uint32_t i) { bits[i >> 3] |= (uint8_t)(0x80 >> (i & 7)); }

/* One block per piece makes ordering tests read naturally. */
static bl_picker *one_block_pieces(uint32_t n, uint64_t seed)
{
    bl_picker *p = bl_picker_new(n, BS, BS, BS, seed);
    assert_non_null(p);
    return p;
}

static uint32_t next_piece(bl_picker *p, uint32_t peer)
{
    bl_block b;
    assert_int_equal(bl_picker_next(p, peer, NULL, true, 0, &b, 1), 1);
    return b.piece;
}

static void test_geometry(void **state)
{
    (void)state;
    assert_null(bl_picker_new(3, 0, 1, BS, 1));
    assert_null(bl_picker_new(3, BS, BS + 1, BS, 1));
    assert_null(bl_picker_new(3, BS, 0, BS, 1));

    /* Short last piece, short last block. */
    bl_picker *p = bl_picker_new(2, 40000, 5000, BS, 1);
    assert_non_null(p);
    assert_int_equal(bl_picker_blocks_in_piece(p, 0), 3);
    assert_int_equal(bl_picker_blocks_in_piece(p, 1), 1);
    bl_picker_set_priority(p, 0, 1, BL_PRIO_BULK, false);
    bl_block b[8];
    int n = bl_picker_next(p, 1, NULL, true, 0, b, 8);
    assert_int_equal(n, 4);
    uint64_t total = 0;
    for (int k = 0; k < n; k++) {
        total += b[k].length;
        if (b[k].piece == 0 && b[k].offset == 2 * BS) assert_int_equal(b[k].length, 40000 - 2 * BS);
        if (b[k].piece == 1) assert_int_equal(b[k].length, 5000);
    }
    assert_int_equal(total, 45000);
    /* Wrong length or offset is refused. */
    bl_block bad = {0, 2 * BS, BS};
    assert_int_equal(bl_picker_block_received(p, 1, &bad, NULL, 0, NULL), -1);
    bad = (bl_block){0, 100, BS};
    assert_int_equal(bl_picker_block_received(p, 1, &bad, NULL, 0, NULL), -1);
    bl_picker_free(p);

    /* A single piece smaller than a block. */
    p = bl_picker_new(1, 1000, 1000, BS, 1);
    bl_picker_set_priority(p, 0, 0, BL_PRIO_BULK, false);
    n = bl_picker_next(p, 1, NULL, true, 0, b, 8);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].length, 1000);
    bool done = false;
    assert_int_equal(bl_picker_block_received(p, 1, &b[0], NULL, 0, &done), 0);
    assert_true(done);
    bl_picker_piece_verified(p, 0);
    assert_true(bl_picker_have(p, 0));
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 0, b, 8), 0);
    bl_picker_stats st;
    bl_picker_get_stats(p, &st);
    assert_int_equal(st.had, 1);
    assert_int_equal(st.wanted, 0);
    assert_false(st.endgame);
    bl_picker_free(p);

    /* Zero pieces: valid and inert. */
    p = bl_picker_new(0, BS, 0, BS, 1);
    assert_non_null(p);
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 0, b, 8), 0);
    bl_picker_free(p);
}

static void test_class_order(void **state)
{
    (void)state;
    bl_picker *p = one_block_pieces(10, 7);
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 0, (bl_block[1]){0}, 1), 0); /* all NONE */
    bl_picker_set_priority(p, 0, 9, BL_PRIO_BULK, false);
    bl_picker_set_priority(p, 5, 6, BL_PRIO_PREFETCH, false);
    bl_picker_set_priority(p, 8, 8, BL_PRIO_OPENED, false);
    bl_picker_set_priority(p, 9, 9, BL_PRIO_NONE, false); /* downgrade ignored ... */
    assert_int_equal(bl_picker_priority(p, 9), BL_PRIO_BULK);
    bl_picker_set_priority(p, 0, 0, BL_PRIO_NONE, true); /* ... unless forced */
    bl_picker_set_deadline(p, 2, 50);

    bl_picker_stats st;
    bl_picker_get_stats(p, &st);
    assert_int_equal(st.wanted, 9);
    assert_int_equal(st.in_class[BL_PRIO_DEADLINE], 1);
    assert_int_equal(st.in_class[BL_PRIO_OPENED], 1);
    assert_int_equal(st.in_class[BL_PRIO_PREFETCH], 2);
    assert_int_equal(st.in_class[BL_PRIO_BULK], 5);
    assert_int_equal(st.in_class[BL_PRIO_NONE], 1);

    assert_int_equal(next_piece(p, 1), 2);
    assert_int_equal(next_piece(p, 1), 8);
    uint32_t a = next_piece(p, 1), b = next_piece(p, 1);
    assert_true((a == 5 && b == 6) || (a == 6 && b == 5));
    bool seen[10] = {0};
    for (int k = 0; k < 5; k++) seen[next_piece(p, 1)] = true;
    assert_true(seen[1] && seen[3] && seen[4] && seen[7] && seen[9]);
    bl_block blk;
    uint8_t only0[2] = {0x80, 0};
    assert_int_equal(bl_picker_next(p, 2, only0, false, 0, &blk, 1), 0); /* piece 0 is NONE */
    /* Everything wanted is requested: endgame gives peer 2 a duplicate. */
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 0, &blk, 1), 1);
    assert_int_not_equal(blk.piece, 0);
    bl_picker_free(p);
}

static void test_deadline_order(void **state)
{
    (void)state;
    bl_picker *p = one_block_pieces(10, 3);
    bl_picker_set_priority(p, 0, 9, BL_PRIO_OPENED, false);
    bl_picker_set_deadline(p, 7, 300);
    bl_picker_set_deadline(p, 1, 100);
    bl_picker_set_deadline(p, 4, 200);
    bl_picker_set_deadline(p, 4, 900); /* later deadline does not push it back */
    assert_int_equal(next_piece(p, 1), 1);
    assert_int_equal(next_piece(p, 1), 4);
    assert_int_equal(next_piece(p, 1), 7);
    assert_int_not_equal(next_piece(p, 1), 7);
    bl_picker_free(p);
}

static void test_rarest_first(void **state)
{
    (void)state;
    uint8_t bits_a[2] = {0}, bits_b[2] = {0};
    for (uint32_t i = 0; i < 12; i++) set_bit(bits_a, i);
    for (uint32_t i = 0; i < 12; i++)
        if (i != 5 && i != 9) set_bit(bits_b, i);
    for (uint64_t seed = 1; seed < 20; seed++) {
        bl_picker *p = one_block_pieces(12, seed);
        bl_picker_set_priority(p, 0, 11, BL_PRIO_BULK, false);
        bl_picker_peer_bitfield(p, bits_a, false);
        bl_picker_peer_bitfield(p, bits_b, false);
        bl_picker_peer_bitfield(p, NULL, true);
        assert_int_equal(bl_picker_availability(p, 5), 2);
        assert_int_equal(bl_picker_availability(p, 0), 3);
        uint32_t a = next_piece(p, 1), b = next_piece(p, 1);
        assert_true((a == 5 && b == 9) || (a == 9 && b == 5));
        bl_picker_free(p);
    }
}

static void test_availability_updates(void **state)
{
    (void)state;
    bl_picker *p = one_block_pieces(10, 1);
    uint8_t bits[2] = {0};
    set_bit(bits, 0);
    set_bit(bits, 9);
    bl_picker_peer_bitfield(p, bits, false);
    bl_picker_peer_bitfield(p, bits, false);
    bl_picker_peer_have(p, 3);
    bl_picker_peer_have(p, 99); /* out of range: ignored */
    bl_picker_peer_bitfield(p, NULL, true);
    assert_int_equal(bl_picker_availability(p, 0), 3);
    assert_int_equal(bl_picker_availability(p, 9), 3);
    assert_int_equal(bl_picker_availability(p, 3), 2);
    assert_int_equal(bl_picker_availability(p, 4), 1);
    bl_picker_peer_gone(p, bits, false);
    bl_picker_peer_gone(p, NULL, true);
    assert_int_equal(bl_picker_availability(p, 0), 1);
    assert_int_equal(bl_picker_availability(p, 4), 0);
    bl_picker_peer_gone(p, bits, false);
    bl_picker_peer_gone(p, bits, false); /* underflow saturates */
    assert_int_equal(bl_picker_availability(p, 0), 0);

    /* Only pieces the peer has are asked of it. */
    bl_picker_set_priority(p, 0, 9, BL_PRIO_BULK, false);
    bl_block b[10];
    int n = bl_picker_next(p, 1, bits, false, 0, b, 10);
    assert_int_equal(n, 2);
    for (int k = 0; k < n; k++) assert_true(b[k].piece == 0 || b[k].piece == 9);
    assert_int_equal(bl_picker_next(p, 1, NULL, false, 0, b, 10), 0);
    bl_picker_free(p);
}

/* N nodes with an empty cache each ask one seeder for a first piece: the
 * choices must spread (64 equally rare pieces, 32 nodes: about 25 distinct
 * on average if uniform; all-the-same would give 1). */
static void test_spread(void **state)
{
    (void)state;
    int total = 0, trials = 20;
    for (int t = 0; t < trials; t++) {
        bool chosen[64] = {0};
        int distinct = 0;
        for (int node = 0; node < 32; node++) {
            bl_picker *p = one_block_pieces(64, (uint64_t)t * 1000 + (uint64_t)node + 1);
            bl_picker_set_priority(p, 0, 63, BL_PRIO_BULK, false);
            bl_picker_peer_bitfield(p, NULL, true);
            uint32_t i = next_piece(p, 1);
            if (!chosen[i]) distinct++;
            chosen[i] = true;
            bl_picker_free(p);
        }
        assert_true(distinct >= 12);
        total += distinct;
    }
    assert_true(total >= 20 * trials);
}

static void record(bl_picker *p, uint32_t *out, int n)
{
    uint8_t bits[8] = {0};
    for (uint32_t i = 0; i < 64; i += 2) set_bit(bits, i);
    bl_picker_set_priority(p, 0, 63, BL_PRIO_BULK, false);
    bl_picker_peer_bitfield(p, bits, false);
    bl_picker_peer_bitfield(p, NULL, true);
    for (int k = 0; k < n; k++) out[k] = next_piece(p, (uint32_t)k % 3);
}

static void test_deterministic(void **state)
{
    (void)state;
    uint32_t a[20], b[20], c[20];
    bl_picker *p = one_block_pieces(64, 42), *q = one_block_pieces(64, 42);
    record(p, a, 20);
    record(q, b, 20);
    assert_memory_equal(a, b, sizeof a);
    bl_picker_free(p);
    bl_picker_free(q);
    int differs = 0;
    for (uint64_t s = 43; s < 48; s++) {
        p = one_block_pieces(64, s);
        record(p, c, 20);
        differs += memcmp(a, c, sizeof a) != 0;
        bl_picker_free(p);
    }
    assert_true(differs >= 4);
}

static void test_prefer_partial(void **state)
{
    (void)state;
    /* 4 pieces of 4 blocks; piece 2 is rarest. Peer 1 starts some piece
     * with 2 blocks; peer 2 must finish that piece before starting another
     * one, even a rarer one, in the same class. */
    bl_picker *p = bl_picker_new(4, 4 * BS, 4 * BS, BS, 9);
    bl_picker_set_priority(p, 0, 3, BL_PRIO_BULK, false);
    bl_picker_peer_bitfield(p, NULL, true);
    uint8_t bits[1] = {0};
    set_bit(bits, 0);
    set_bit(bits, 1);
    set_bit(bits, 3);
    bl_picker_peer_bitfield(p, bits, false); /* piece 2 rarest */
    bl_block b[4];
    assert_int_equal(bl_picker_next(p, 1, bits, false, 0, b, 2), 2);
    uint32_t started = b[0].piece;
    assert_int_not_equal(started, 2);
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 0, b, 3), 3);
    assert_int_equal(b[0].piece, started);
    assert_int_equal(b[1].piece, started);
    assert_int_equal(b[2].piece, 2); /* then the rarest */
    bl_picker_stats st;
    bl_picker_get_stats(p, &st);
    assert_int_equal(st.partial, 2);
    assert_int_equal(st.outstanding, 5);
    /* ...but a better class beats a partial piece. */
    uint32_t other = started == 0 ? 1 : 0;
    bl_picker_set_priority(p, other, other, BL_PRIO_OPENED, false);
    assert_int_equal(bl_picker_next(p, 3, NULL, true, 0, b, 1), 1);
    assert_int_equal(b[0].piece, other);
    bl_picker_free(p);
}

static void test_endgame(void **state)
{
    (void)state;
    for (int stock = 0; stock < 2; stock++) {
        bl_picker *p = bl_picker_new(1, 2 * BS, 2 * BS, BS, 5);
        if (stock) bl_picker_set_endgame_extra(p, BL_ENDGAME_STOCK);
        bl_picker_set_priority(p, 0, 0, BL_PRIO_BULK, false);
        bl_block b[4];
        assert_int_equal(bl_picker_next(p, 10, NULL, true, 0, b, 4), 2);
        bl_picker_stats st;
        bl_picker_get_stats(p, &st);
        assert_true(st.endgame);
        assert_int_equal(bl_picker_next(p, 10, NULL, true, 0, b, 4), 0); /* never twice at one peer */
        assert_int_equal(bl_picker_next(p, 11, NULL, true, 0, b, 4), 2);
        assert_int_equal(bl_picker_next(p, 12, NULL, true, 0, b, 4), stock ? 2 : 0);
        bl_picker_get_stats(p, &st);
        assert_int_equal(st.outstanding, stock ? 6 : 4);

        uint32_t cancel[4];
        bool done = true;
        bl_block b0 = {0, 0, BS};
        int nc = bl_picker_block_received(p, 11, &b0, cancel, 4, &done);
        assert_false(done);
        assert_int_equal(nc, stock ? 2 : 1);
        assert_int_equal(cancel[0], 10);
        if (stock) assert_int_equal(cancel[1], 12);
        /* The losing copy arriving later is dropped. */
        assert_int_equal(bl_picker_block_received(p, 10, &b0, cancel, 4, NULL), -1);
        bl_block b1 = {0, BS, BS};
        nc = bl_picker_block_received(p, 10, &b1, cancel, 4, &done);
        assert_int_equal(nc, stock ? 2 : 1);
        assert_int_equal(cancel[0], 11);
        assert_true(done);
        bl_picker_get_stats(p, &st);
        assert_int_equal(st.outstanding, 0);
        bl_picker_free(p);
    }
    /* extra = 0: no duplicates at all. */
    bl_picker *p = bl_picker_new(1, 2 * BS, 2 * BS, BS, 5);
    bl_picker_set_endgame_extra(p, 0);
    bl_picker_set_priority(p, 0, 0, BL_PRIO_BULK, false);
    bl_block b[4];
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 0, b, 4), 2);
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 0, b, 4), 0);
    bl_picker_free(p);
}

static void test_hash_failure(void **state)
{
    (void)state;
    bl_picker *p = bl_picker_new(2, 3 * BS, 3 * BS, BS, 5);
    bl_picker_set_priority(p, 0, 1, BL_PRIO_BULK, false);
    uint8_t bits[1] = {0x80}; /* piece 0 only */
    bl_block b[8];
    assert_int_equal(bl_picker_next(p, 1, bits, false, 0, b, 8), 3);
    bool done = false;
    for (int k = 0; k < 3; k++) assert_int_equal(bl_picker_block_received(p, 1, &b[k], NULL, 0, &done), 0);
    assert_true(done);
    assert_int_equal(bl_picker_next(p, 1, bits, false, 0, b, 8), 0);
    bl_picker_piece_failed(p, 0);
    assert_false(bl_picker_have(p, 0));
    assert_int_equal(bl_picker_next(p, 2, bits, false, 0, b, 8), 3);
    for (int k = 0; k < 3; k++) assert_int_equal(b[k].piece, 0);
    bl_picker_free(p);
}

static void test_cancel_release(void **state)
{
    (void)state;
    bl_picker *p = bl_picker_new(3, 2 * BS, 2 * BS, BS, 5);
    bl_picker_set_priority(p, 0, 2, BL_PRIO_BULK, false);
    bl_block b[8];
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 0, b, 2), 2); /* one whole piece */
    assert_int_equal(b[0].piece, b[1].piece);
    assert_int_equal(bl_picker_block_cancelled(p, 2, &b[0]), -1); /* not at peer 2 */
    assert_int_equal(bl_picker_block_rejected(p, 1, &b[0]), 0);
    assert_int_equal(bl_picker_block_cancelled(p, 1, &b[0]), -1); /* already gone */
    bl_block again;
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 0, &again, 1), 1);
    assert_memory_equal(&again, &b[0], sizeof again); /* in progress goes first */
    assert_int_equal(bl_picker_peer_released(p, 1), 1);
    bl_picker_stats st;
    bl_picker_get_stats(p, &st);
    assert_int_equal(st.outstanding, 1);
    assert_int_equal(st.partial, 1);
    /* 5 free blocks, then (endgame) a duplicate of the one at peer 2. */
    assert_int_equal(bl_picker_next(p, 3, NULL, true, 0, b, 8), 6);
    assert_memory_equal(&b[5], &again, sizeof again);
    bl_picker_free(p);
}

static void test_deadline_rescue(void **state)
{
    (void)state;
    bl_picker *p = one_block_pieces(2, 5);
    bl_picker_set_deadline_rescue(p, 1000);
    bl_picker_set_priority(p, 1, 1, BL_PRIO_BULK, false);
    bl_picker_set_deadline(p, 0, 5000);
    uint8_t only0[1] = {0x80};
    bl_block b;
    assert_int_equal(bl_picker_next(p, 1, only0, false, 0, &b, 1), 1);
    assert_int_equal(b.piece, 0);
    assert_int_equal(bl_picker_next(p, 2, only0, false, 500, &b, 1), 0);
    assert_int_equal(bl_picker_next(p, 2, only0, false, 1500, &b, 1), 1);
    assert_int_equal(b.piece, 0);
    assert_int_equal(bl_picker_next(p, 3, only0, false, 5000, &b, 1), 0); /* one rescue only */
    bl_picker_free(p);
}

/* Random swarm events against a shadow copy of who has which block
 * outstanding: outside endgame a fresh request never hits a block that is
 * outstanding elsewhere; in cooperative endgame a block is at <= 2 peers. */
#define SIM_PEERS 6
#define SIM_PIECES 24
#define SIM_BPP 3

static int sim_duplicates; /* duplicate requests seen: the sim reaches endgame */

static void sim_run(uint64_t seed, uint32_t extra)
{
    bl_picker *p = bl_picker_new(SIM_PIECES, SIM_BPP * BS, BS + 100, BS, seed);
    bl_picker_set_endgame_extra(p, extra);
    bl_picker_set_priority(p, 0, SIM_PIECES - 1, BL_PRIO_BULK, false);
    bl_picker_set_priority(p, 0, 3, BL_PRIO_OPENED, false);
    bl_picker_set_deadline(p, 10, 77);
    uint8_t bits[SIM_PEERS][(SIM_PIECES + 7) / 8];
    uint8_t at[SIM_PIECES][SIM_BPP][SIM_PEERS];
    memset(bits, 0, sizeof bits);
    memset(at, 0, sizeof at);
    srand((unsigned)seed);
    for (int peer = 0; peer < SIM_PEERS; peer++) {
        for (uint32_t i = 0; i < SIM_PIECES; i++)
            if (rand() % 3 || peer == 0) set_bit(bits[peer], i);
        bl_picker_peer_bitfield(p, bits[peer], false);
    }
    bool got[SIM_PIECES][SIM_BPP];
    memset(got, 0, sizeof got);
    int verified = 0;
    for (int step = 0; step < 4000 && verified < SIM_PIECES; step++) {
        int peer = rand() % SIM_PEERS;
        int action = rand() % 10;
        if (action < 4) {
            bl_block out[5];
            bl_picker_stats before;
            bl_picker_get_stats(p, &before);
            int n = bl_picker_next(p, (uint32_t)peer, bits[peer], false, 0, out, 1 + rand() % 5);
            bl_picker_stats after;
            bl_picker_get_stats(p, &after);
            for (int k = 0; k < n; k++) {
                uint32_t i = out[k].piece, j = out[k].offset / BS;
                assert_true((bits[peer][i >> 3] >> (7 - (i & 7))) & 1);
                assert_false(at[i][j][peer]);
                assert_false(got[i][j]);
                int others = 0;
                for (int q = 0; q < SIM_PEERS; q++) others += at[i][j][q];
                if (others) assert_true(after.endgame);
                sim_duplicates += others > 0;
                if (extra != BL_ENDGAME_STOCK) assert_true(others <= (int)extra);
                at[i][j][peer] = 1;
            }
        } else if (action < 8) {
            /* The peer delivers one of its outstanding blocks. */
            for (uint32_t i = 0; i < SIM_PIECES; i++)
                for (uint32_t j = 0; j < SIM_BPP; j++) {
                    if (!at[i][j][peer]) continue;
                    bl_block b = {i, j * BS, (i == SIM_PIECES - 1 && j == 1) ? 100 : BS};
                    uint32_t cancel[SIM_PEERS];
                    bool done;
                    int nc = bl_picker_block_received(p, (uint32_t)peer, &b, cancel, SIM_PEERS, &done);
                    assert_true(nc >= 0);
                    at[i][j][peer] = 0;
                    got[i][j] = true;
                    for (int c = 0; c < nc; c++) {
                        assert_true(at[i][j][cancel[c]]);
                        at[i][j][cancel[c]] = 0;
                    }
                    for (int q = 0; q < SIM_PEERS; q++) assert_false(at[i][j][q]);
                    if (done) {
                        if (rand() % 5 == 0) {
                            bl_picker_piece_failed(p, i);
                            memset(got[i], 0, sizeof got[i]);
                        } else {
                            bl_picker_piece_verified(p, i);
                            verified++;
                        }
                    }
                    goto next_step;
                }
        } else if (action == 8) {
            int released = bl_picker_peer_released(p, (uint32_t)peer);
            int expect = 0;
            for (uint32_t i = 0; i < SIM_PIECES; i++)
                for (uint32_t j = 0; j < SIM_BPP; j++) {
                    expect += at[i][j][peer];
                    at[i][j][peer] = 0;
                }
            assert_int_equal(released, expect);
        }
    next_step:;
        uint64_t shadow = 0;
        for (uint32_t i = 0; i < SIM_PIECES; i++)
            for (uint32_t j = 0; j < SIM_BPP; j++)
                for (int q = 0; q < SIM_PEERS; q++) shadow += at[i][j][q];
        bl_picker_stats st;
        bl_picker_get_stats(p, &st);
        assert_int_equal(st.outstanding, shadow);
    }
    assert_int_equal(verified, SIM_PIECES);
    bl_picker_stats st;
    bl_picker_get_stats(p, &st);
    assert_int_equal(st.had, SIM_PIECES);
    assert_int_equal(st.partial, 0);
    bl_picker_free(p);
}

static void test_no_duplicates_sim(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        sim_run(seed, 0);
        assert_int_equal(sim_duplicates, 0);
    }
    for (uint64_t seed = 1; seed <= 30; seed++) {
        sim_run(seed, 1);
        sim_run(seed, BL_ENDGAME_STOCK);
    }
    assert_true(sim_duplicates > 10);
}


/* bl_picker_supply / requestable / dups_due let a caller skip asking a peer
 * that just gave nothing.  Random operations on a swarm of four peers; peer
 * 1 is skipped exactly when a caller would skip it, and at each such moment
 * the picker is asked anyway: it must give nothing (else a skip would lose
 * a request). */
struct out_req {
    bl_block b;
    uint32_t peer;
};

static void test_supply_skip(void **state)
{
    (void)state;
    enum { NP = 48, NPEERS = 4 };
    int skips_checked = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        bl_picker *p = bl_picker_new(NP, 2 * BS, BS, BS, seed);
        assert_non_null(p);
        bl_picker_set_endgame_delay(p, 500);
        bl_picker_set_priority(p, 0, NP - 1, seed % 2 ? BL_PRIO_BULK : BL_PRIO_NONE, true);
        uint8_t bits[NPEERS + 1][(NP + 7) / 8];
        memset(bits, 0, sizeof bits);
        struct out_req out[4 * NP];
        int nout = 0;
        bool dry = false;
        uint64_t dry_supply = 0, rng = seed * 0x9e3779b97f4a7c15ull;
        for (int step = 0; step < 3000; step++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(rng >> 33), op = r % 9, peer = 1 + (r >> 4) % NPEERS;
            uint32_t piece = (r >> 8) % NP;
            if (op == 0) { /* HAVE */
                if (!(bits[peer][piece >> 3] & (0x80 >> (piece & 7)))) {
                    set_bit(bits[peer], piece);
                    bl_picker_peer_have(p, piece);
                    if (peer == 1 && bl_picker_requestable(p, piece)) dry = false;
                }
            } else if (op <= 3) { /* ask */
                bl_block b[4];
                int max = 1 + (int)((r >> 12) % 4);
                bool skip = peer == 1 && dry && dry_supply == bl_picker_supply(p) &&
                            !bl_picker_dups_due(p);
                int n = bl_picker_next(p, peer, bits[peer], false, 0, b, max);
                if (skip) {
                    assert_int_equal(n, 0);
                    skips_checked++;
                }
                for (int k = 0; k < n; k++) out[nout++] = (struct out_req){b[k], peer};
                if (peer == 1) {
                    dry = n < max;
                    dry_supply = bl_picker_supply(p);
                }
            } else if (op <= 5 && nout) { /* a block arrives */
                int k = (int)((r >> 12) % (uint32_t)nout);
                bool complete = false;
                if (bl_picker_block_received(p, out[k].peer, &out[k].b, NULL, 0, &complete) >= 0 &&
                    complete) {
                    if ((r >> 20) % 4) bl_picker_piece_verified(p, out[k].b.piece);
                    else bl_picker_piece_failed(p, out[k].b.piece);
                }
                out[k] = out[--nout];
            } else if (op == 6 && nout) { /* cancelled or rejected */
                int k = (int)((r >> 12) % (uint32_t)nout);
                bl_picker_block_cancelled(p, out[k].peer, &out[k].b);
                out[k] = out[--nout];
            } else if (op == 7 && (r >> 12) % 8 == 0) { /* a peer chokes us */
                bl_picker_peer_released(p, peer);
                for (int k = 0; k < nout;)
                    if (out[k].peer == peer) out[k] = out[--nout];
                    else k++;
            } else if (op == 8 && (r >> 12) % 4 == 0) { /* reads want some pieces */
                uint32_t last = piece + (r >> 20) % 4;
                if ((r >> 24) % 3 == 0) bl_picker_set_deadline(p, piece, 100 + (r >> 26));
                else bl_picker_set_priority(p, piece, last, (enum bl_prio)((r >> 26) % 4), false);
            }
        }
        bl_picker_free(p);
    }
    /* the property was exercised, not vacuous */
    assert_true(skips_checked > 500);
}

/* Spare seeds: a seed is asked only for pieces no other peer has (or will
 * have: bl_picker_peer_have also counts promises), unless nothing is in
 * flight at all. */
static void test_spare_seeds(void **state)
{
    (void)state;
    bl_picker *p = bl_picker_new(10, BL_BLOCK_SIZE, BL_BLOCK_SIZE, BL_BLOCK_SIZE, 42);
    assert_non_null(p);
    bl_picker_set_spare_seeds(p, true);
    bl_picker_set_priority(p, 0, 9, BL_PRIO_BULK, false);
    bl_picker_peer_bitfield(p, NULL, true); /* peer 1: a seed */
    uint8_t half[2] = {0xf8, 0x00};          /* peer 2: pieces 0..4 */
    bl_picker_peer_bitfield(p, half, false);
    bl_block b[10];
    /* nothing in flight: the rule steps aside so the swarm cannot stall */
    int n = bl_picker_next(p, 1, NULL, true, 0, b, 1);
    assert_int_equal(n, 1);
    uint32_t first = b[0].piece;
    /* now something is in flight: the seed only gets pieces 5..9 */
    n = bl_picker_next(p, 1, NULL, true, 0, b, 10);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        assert_true(b[i].piece >= 5);
        assert_true(b[i].piece != first);
    }
    /* a promise (or HAVE) from a non-seed moves a piece off the seed */
    bl_picker_free(p);
    p = bl_picker_new(10, BL_BLOCK_SIZE, BL_BLOCK_SIZE, BL_BLOCK_SIZE, 43);
    bl_picker_set_spare_seeds(p, true);
    bl_picker_set_priority(p, 0, 9, BL_PRIO_BULK, false);
    bl_picker_peer_bitfield(p, NULL, true);
    for (uint32_t i = 0; i < 9; i++)
        bl_picker_peer_have(p, i);
    assert_int_equal(bl_picker_next(p, 2, half, false, 0, b, 1), 1); /* something in flight */
    n = bl_picker_next(p, 1, NULL, true, 0, b, 10);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].piece, 9);
    /* the promise is withdrawn: piece 8 may come from the seed again */
    bl_picker_peer_unhave(p, 8);
    n = bl_picker_next(p, 1, NULL, true, 0, b, 10);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].piece, 8);
    /* without the rule the seed gets everything */
    bl_picker_set_spare_seeds(p, false);
    n = bl_picker_next(p, 1, NULL, true, 0, b, 10);
    assert_true(n >= 6);
    bl_picker_free(p);
}


/* The word-at-a-time scan offers exactly the pieces a per-piece rule would:
 * wanted, not had, not started, held by the peer, and (spare seeds, asking
 * a seed) held by no other peer unless DEADLINE.  Odd piece counts exercise
 * the bitmap's last, partial word. */
static void test_scan_matches_rule(void **state)
{
    (void)state;
    enum { N = 1037, PEERS = 4 };
    for (uint64_t seed = 1; seed <= 40; seed++) {
        srand((unsigned)seed);
        bl_picker *p = one_block_pieces(N, seed);
        bl_picker_set_endgame_extra(p, 0);
        bool spare = seed % 2;
        bl_picker_set_spare_seeds(p, spare);
        static uint8_t cls[N], had[N], started[N], avail[N];
        memset(had, 0, sizeof had);
        memset(started, 0, sizeof started);
        memset(avail, 0, sizeof avail);
        for (uint32_t i = 0; i < N; i++) {
            cls[i] = (uint8_t)(rand() % BL_PRIO_COUNT);
            /* half the runs without DEADLINE pieces: the scan masks with
             * the "no one else holds it" bitmap only then */
            if (cls[i] == BL_PRIO_DEADLINE && seed % 4 < 2)
                cls[i] = BL_PRIO_BULK;
            if (cls[i] == BL_PRIO_DEADLINE)
                bl_picker_set_deadline(p, i, (uint64_t)(rand() % 1000));
            else
                bl_picker_set_priority(p, i, i, (enum bl_prio)cls[i], true);
        }
        uint8_t bits[PEERS][(N + 7) / 8];
        memset(bits, 0, sizeof bits);
        for (int q = 0; q < PEERS; q++) {
            for (uint32_t i = 0; i < N; i++)
                if (rand() % 4 == 0) {
                    set_bit(bits[q], i);
                    avail[i]++;
                }
            bl_picker_peer_bitfield(p, bits[q], false);
        }
        for (int k = 0; k < 300; k++) { /* HAVEs, promises and their withdrawal */
            uint32_t i = (uint32_t)rand() % N;
            if (rand() % 3 == 0 && avail[i]) {
                bl_picker_peer_unhave(p, i);
                avail[i]--;
            } else {
                bl_picker_peer_have(p, i);
                avail[i]++;
            }
        }
        bl_picker_peer_bitfield(p, NULL, true); /* a seed: peer PEERS */
        /* some pieces fetched and verified, some in flight from the seed */
        int inflight = 0;
        for (int k = 0; k < 200; k++) {
            bl_block b;
            if (bl_picker_next(p, PEERS, NULL, true, 0, &b, 1) != 1) break;
            started[b.piece] = 1;
            if (rand() % 2) {
                bool done;
                assert_true(bl_picker_block_received(p, PEERS, &b, NULL, 0, &done) >= 0);
                assert_true(done);
                bl_picker_piece_verified(p, b.piece);
                had[b.piece] = 1;
            } else {
                inflight++;
            }
        }
        for (int q = 0; q <= PEERS; q++) {
            bool seed_peer = q == PEERS;
            uint8_t expect[N];
            int nexpect = 0;
            for (uint32_t i = 0; i < N; i++) {
                bool holds = seed_peer || ((bits[q][i >> 3] >> (7 - (i & 7))) & 1);
                bool spared = spare && seed_peer && avail[i] > 0 && cls[i] != BL_PRIO_DEADLINE;
                expect[i] = cls[i] != BL_PRIO_NONE && !had[i] && !started[i] && holds && !spared;
                nexpect += expect[i];
            }
            static bl_block out[N];
            /* a copy of the picker's state cannot be taken, so ask for
             * everything once and then release it again */
            int n = bl_picker_next(p, (uint32_t)q, seed_peer ? NULL : bits[q], seed_peer, 0, out, N);
            assert_int_equal(n, nexpect);
            for (int k = 0; k < n; k++)
                assert_true(expect[out[k].piece]);
            assert_int_equal(bl_picker_peer_released(p, (uint32_t)q), n + (seed_peer ? inflight : 0));
        }
        bl_picker_free(p);
    }
}

/* A piece ending in padding is fetched only up to the padding. */
static void test_short_piece(void **state)
{
    (void)state;
    bl_picker *p = bl_picker_new(3, 2 * BS, 2 * BS, BS, 7);
    assert_non_null(p);
    bl_picker_set_piece_length(p, 0, BS + 100);
    bl_picker_set_piece_length(p, 1, 100);
    bl_picker_set_piece_length(p, 2, 3 * BS); /* longer than the piece: ignored */
    assert_int_equal(bl_picker_piece_size(p, 0), BS + 100);
    assert_int_equal(bl_picker_blocks_in_piece(p, 0), 2);
    assert_int_equal(bl_picker_blocks_in_piece(p, 1), 1);
    assert_int_equal(bl_picker_piece_size(p, 2), 2 * BS);
    bl_picker_set_priority(p, 0, 2, BL_PRIO_BULK, false);
    bl_block b[8];
    int n = bl_picker_next(p, 1, NULL, true, 0, b, 8);
    assert_int_equal(n, 5);
    uint32_t bytes = 0;
    for (int k = 0; k < n; k++) {
        bytes += b[k].length;
        if (b[k].piece == 1) assert_int_equal(b[k].length, 100);
        if (b[k].piece == 0 && b[k].offset == BS) assert_int_equal(b[k].length, 100);
    }
    assert_int_equal(bytes, BS + 100 + 100 + 2 * BS);
    /* the full-length block is not what was asked: refused */
    bl_block whole = {1, 0, BS};
    assert_int_equal(bl_picker_block_received(p, 1, &whole, NULL, 0, NULL), -1);
    bl_block shortb = {1, 0, 100};
    bool done;
    assert_int_equal(bl_picker_block_received(p, 1, &shortb, NULL, 0, &done), 0);
    assert_true(done);
    bl_picker_set_piece_length(p, 0, 50); /* in progress: ignored */
    assert_int_equal(bl_picker_piece_size(p, 0), BS + 100);
    bl_picker_free(p);
}

/* Cooperative endgame waits before duplicating a request. */
static void test_endgame_delay(void **state)
{
    (void)state;
    bl_picker *p = bl_picker_new(1, BL_BLOCK_SIZE, BL_BLOCK_SIZE, BL_BLOCK_SIZE, 7);
    assert_non_null(p);
    bl_picker_set_endgame_delay(p, 500);
    bl_picker_set_priority(p, 0, 0, BL_PRIO_OPENED, false);
    bl_picker_peer_bitfield(p, NULL, true);
    bl_picker_peer_bitfield(p, NULL, true);
    bl_block b[4];
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 1000, b, 4), 1);
    /* endgame at once (the only block is out), but no duplicate yet */
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 1100, b, 4), 0);
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 1499, b, 4), 0);
    assert_int_equal(bl_picker_next(p, 2, NULL, true, 1500, b, 4), 1);
    assert_int_equal(b[0].piece, 0);
    /* and never a third copy (one extra peer) */
    assert_int_equal(bl_picker_next(p, 3, NULL, true, 9000, b, 4), 0);
    bl_picker_free(p);
}


/* Data is used only from a peer it was requested from. */
static void test_unsolicited_refused(void **state)
{
    (void)state;
    bl_picker *p = bl_picker_new(2, 2 * BL_BLOCK_SIZE, 2 * BL_BLOCK_SIZE, BL_BLOCK_SIZE, 9);
    bl_picker_set_priority(p, 0, 1, BL_PRIO_BULK, false);
    bl_picker_peer_bitfield(p, NULL, true);
    bl_block b[1];
    assert_int_equal(bl_picker_next(p, 1, NULL, true, 0, b, 1), 1);
    bl_block other = b[0];
    other.offset = other.offset ? 0 : BL_BLOCK_SIZE; /* the sibling block, never requested */
    bool complete;
    assert_int_equal(bl_picker_block_received(p, 2, &b[0], NULL, 0, &complete), -1);
    assert_int_equal(bl_picker_block_received(p, 1, &other, NULL, 0, &complete), -1);
    assert_int_equal(bl_picker_block_received(p, 1, &b[0], NULL, 0, &complete), 0);
    /* a second copy of a block already in is refused too */
    assert_int_equal(bl_picker_block_received(p, 1, &b[0], NULL, 0, &complete), -1);
    bl_picker_free(p);
}

/* A seed restricted by bits (the pieces it just rejected left out) is asked
 * for none of those, and stays a seed for the spare-seeds rule. */
static void test_seed_restricted_by_bits(void **state)
{
    (void)state;
    bl_picker *p = one_block_pieces(16, 7);
    bl_picker_set_spare_seeds(p, true);
    bl_picker_set_priority(p, 0, 15, BL_PRIO_BULK, false);
    bl_picker_peer_bitfield(p, NULL, true); /* peer 1: a seed */
    uint8_t other[2] = {0x00, 0x0f};         /* peer 2: pieces 12..15 */
    bl_picker_peer_bitfield(p, other, false);
    uint8_t mask[2] = {0x0f, 0xff};          /* the seed rejected 0..3 */
    bl_block b[16];
    assert_int_equal(bl_picker_next(p, 2, other, false, 0, b, 1), 1); /* something in flight */
    /* 4..11: not 0..3 (masked), not 12..15 (spared: peer 2 has them) */
    int n = bl_picker_next(p, 1, mask, true, 0, b, 16);
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++)
        assert_true(b[i].piece >= 4 && b[i].piece < 12);
    assert_int_equal(bl_picker_next(p, 1, mask, true, 0, b, 16), 0);
    /* unmasked, the seed gets 0..3 */
    n = bl_picker_next(p, 1, NULL, true, 0, b, 16);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++)
        assert_true(b[i].piece < 4);
    bl_picker_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spare_seeds),
        cmocka_unit_test(test_supply_skip),
        cmocka_unit_test(test_scan_matches_rule),
        cmocka_unit_test(test_short_piece),
        cmocka_unit_test(test_unsolicited_refused),
        cmocka_unit_test(test_endgame_delay),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_class_order),
        cmocka_unit_test(test_deadline_order),
        cmocka_unit_test(test_rarest_first),
        cmocka_unit_test(test_availability_updates),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_prefer_partial),
        cmocka_unit_test(test_endgame),
        cmocka_unit_test(test_hash_failure),
        cmocka_unit_test(test_cancel_release),
        cmocka_unit_test(test_deadline_rescue),
        cmocka_unit_test(test_no_duplicates_sim),
        cmocka_unit_test(test_seed_restricted_by_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
