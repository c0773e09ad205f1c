/* picker: see picker.h.
 *
 * Counters (had, pieces per class, unstarted pieces per class, free wanted
 * blocks, of those in pieces in progress) and the `fresh` bitmap are kept
 * exact by detach()/attach() around every change to a piece, so endgame
 * detection and "is a scan worth it" are O(1).  Pieces in progress (some
 * block requested or received) sit in `active` with a per-block array; the
 * unstarted pieces are scanned a 64-bit word at a time only when the
 * in-progress pieces cannot fill the request. */
#include "swarm/picker.h"

#include <stdlib.h>
#include <string.h>

enum { BLK_FREE = 0, BLK_REQ, BLK_GOT };

struct blk {
    uint64_t req_ms;    /* when the first outstanding request was made */
    uint32_t peer0;     /* first requester */
    uint32_t nreq;      /* requesters; peers 2..nreq live in more[] */
    uint32_t more_cap;
    uint8_t state;
    uint32_t *more;
};

struct piece {
    uint64_t deadline;
    struct blk *blocks; /* non-NULL iff in progress */
    uint32_t avail;     /* peers with a bitfield bit / HAVE for it */
    uint32_t nreq;      /* blocks in BLK_REQ */
    uint32_t ngot;      /* blocks in BLK_GOT */
    uint32_t len;       /* bytes to fetch when shorter than the piece (padding), else 0 */
    int32_t active;     /* index in picker.active, or -1 */
    uint8_t cls;
    uint8_t had;
};

struct cand {
    uint64_t deadline;
    uint32_t piece, avail, rnd;
    uint8_t cls, started;
};

struct bl_picker {
    uint32_t num_pieces, piece_len, last_len, bs;
    uint64_t rng;
    struct piece *pc;
    uint32_t *active;
    uint32_t nactive;
    uint32_t seeds;     /* peers that have everything */
    uint32_t had;
    uint32_t cls_count[BL_PRIO_COUNT];  /* not had */
    uint32_t unstarted[BL_PRIO_COUNT];  /* not had, nothing requested/received */
    uint64_t wanted_free;               /* free blocks of wanted, not-had pieces */
    uint64_t active_free;               /* ... of those, in pieces in progress */
    uint32_t bs_shift;                  /* log2(bs) when bs is a power of two, else 0 */
    uint64_t outstanding;
    uint64_t supply;                    /* bumped when blocks may become requestable */
    uint32_t endgame_extra, rescue_ms;
    bool spare_seeds;
    uint32_t endgame_delay_ms;
    struct cand *cands;
    int cand_cap;
    /* Bitmaps in wire order (bit 7 of byte 0 = piece 0), map_words * 8 bytes,
     * so a scan ANDs them with a peer's bitfield a word at a time instead of
     * visiting every piece (with 16 KiB pieces every request starts a piece,
     * and the per-piece scan was a tenth of a node's CPU). */
    size_t map_words;
    uint8_t *fresh;   /* not had, nothing requested or received, class != NONE */
    uint8_t *unheld;  /* no connected peer (seeds aside) has it */
};

static void map_put(uint8_t *map, uint32_t i, bool on)
{
    uint8_t bit = (uint8_t)(0x80u >> (i & 7));
    if (on) map[i >> 3] |= bit;
    else map[i >> 3] &= (uint8_t)~bit;
}

static uint64_t rng_next(bl_picker *p)
{
    /* splitmix64: tiny, good enough for tie-breaking, reproducible. */
    uint64_t z = (p->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t bl_picker_piece_size(const bl_picker *p, uint32_t piece)
{
    if (piece >= p->num_pieces) return 0;
    if (p->pc[piece].len) return p->pc[piece].len;
    return piece + 1 == p->num_pieces ? p->last_len : p->piece_len;
}

uint32_t bl_picker_blocks_in_piece(const bl_picker *p, uint32_t piece)
{
    uint64_t len = bl_picker_piece_size(p, piece);
    /* a shift, not a division: this runs for every piece in progress */
    if (p->bs_shift) return (uint32_t)((len + p->bs - 1) >> p->bs_shift);
    return (uint32_t)((len + p->bs - 1) / p->bs);
}

static uint32_t block_len(const bl_picker *p, uint32_t piece, uint32_t j)
{
    uint32_t len = bl_picker_piece_size(p, piece);
    uint64_t off = (uint64_t)j * p->bs;
    return len - off < p->bs ? (uint32_t)(len - off) : p->bs;
}

/* bits, when given, restrict even a seed (see bl_picker_next) */
static bool peer_has(const uint8_t *bits, bool has_all, uint32_t i)
{
    if (!bits) return has_all;
    return (bits[i >> 3] >> (7 - (i & 7))) & 1;
}

static bool started(const struct piece *pc) { return pc->nreq + pc->ngot > 0; }

static uint32_t free_blocks(const bl_picker *p, uint32_t i)
{
    const struct piece *pc = &p->pc[i];
    return pc->had ? 0 : bl_picker_blocks_in_piece(p, i) - pc->nreq - pc->ngot;
}

/* Remove (sign -1) or add (+1) piece i's share of the counters. */
static void account(bl_picker *p, uint32_t i, int sign)
{
    const struct piece *pc = &p->pc[i];
    if (sign > 0) map_put(p->fresh, i, !pc->had && !started(pc) && pc->cls != BL_PRIO_NONE);
    if (pc->had) {
        p->had += (uint32_t)sign;
        return;
    }
    p->cls_count[pc->cls] += (uint32_t)sign;
    if (!started(pc)) p->unstarted[pc->cls] += (uint32_t)sign;
    if (pc->cls != BL_PRIO_NONE) {
        uint64_t nfree = (uint64_t)(int64_t)sign * free_blocks(p, i);
        p->wanted_free += nfree;
        if (started(pc)) p->active_free += nfree;
    }
}
static void detach(bl_picker *p, uint32_t i) { account(p, i, -1); }
static void attach(bl_picker *p, uint32_t i) { account(p, i, +1); }

static void drop_requests(bl_picker *p, struct blk *b)
{
    p->outstanding -= b->nreq;
    b->nreq = 0;
    free(b->more);
    b->more = NULL;
    b->more_cap = 0;
}

/* Bring piece i's active-list membership and block array in line with its
 * state: in progress <=> on the list with blocks. */
static void settle(bl_picker *p, uint32_t i)
{
    struct piece *pc = &p->pc[i];
    bool live = !pc->had && started(pc);
    if (live) {
        if (pc->active < 0) {
            pc->active = (int32_t)p->nactive;
            p->active[p->nactive++] = i;
        }
        return;
    }
    if (pc->blocks) {
        uint32_t nb = bl_picker_blocks_in_piece(p, i);
        for (uint32_t j = 0; j < nb; j++) drop_requests(p, &pc->blocks[j]);
        free(pc->blocks);
        pc->blocks = NULL;
    }
    pc->nreq = pc->ngot = 0;
    if (pc->active >= 0) {
        uint32_t last = p->active[--p->nactive];
        p->active[pc->active] = last;
        p->pc[last].active = pc->active;
        pc->active = -1;
    }
}

bl_picker *bl_picker_new(uint32_t num_pieces, uint32_t piece_length, uint32_t last_piece_length,
                         uint32_t block_size, uint64_t seed)
{
    if (!piece_length || !block_size || (num_pieces && (!last_piece_length ||
                                                        last_piece_length > piece_length)))
        return NULL;
    bl_picker *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->num_pieces = num_pieces;
    p->piece_len = piece_length;
    p->last_len = num_pieces ? last_piece_length : piece_length;
    p->bs = block_size;
    if (!(block_size & (block_size - 1)))
        while ((1u << p->bs_shift) < block_size) p->bs_shift++;
    p->rng = seed;
    p->endgame_extra = 1;
    size_t n = num_pieces ? num_pieces : 1;
    p->pc = calloc(n, sizeof *p->pc);
    p->active = calloc(n, sizeof *p->active);
    p->map_words = (n + 63) / 64;
    p->fresh = calloc(p->map_words, 8);
    p->unheld = calloc(p->map_words, 8);
    if (!p->pc || !p->active || !p->fresh || !p->unheld) {
        bl_picker_free(p);
        return NULL;
    }
    for (uint32_t i = 0; i < num_pieces; i++) {
        p->pc[i].cls = BL_PRIO_NONE;
        p->pc[i].deadline = BL_NO_DEADLINE;
        p->pc[i].active = -1;
        map_put(p->unheld, i, true);
        attach(p, i);
    }
    return p;
}

void bl_picker_free(bl_picker *p)
{
    if (!p) return;
    if (p->pc)
        for (uint32_t k = 0; k < p->nactive; k++) {
            uint32_t i = p->active[k];
            uint32_t nb = bl_picker_blocks_in_piece(p, i);
            for (uint32_t j = 0; j < nb; j++) free(p->pc[i].blocks[j].more);
            free(p->pc[i].blocks);
        }
    free(p->pc);
    free(p->active);
    free(p->cands);
    free(p->fresh);
    free(p->unheld);
    free(p);
}

void bl_picker_set_endgame_extra(bl_picker *p, uint32_t extra) { p->endgame_extra = extra; }
void bl_picker_set_spare_seeds(bl_picker *p, bool on) { p->spare_seeds = on; }

void bl_picker_set_endgame_delay(bl_picker *p, uint32_t ms) { p->endgame_delay_ms = ms; }

void bl_picker_set_deadline_rescue(bl_picker *p, uint32_t ms) { p->rescue_ms = ms; }

void bl_picker_set_piece_length(bl_picker *p, uint32_t piece, uint32_t len)
{
    if (piece >= p->num_pieces || !len || len > bl_picker_piece_size(p, piece) ||
        p->pc[piece].blocks)
        return;
    detach(p, piece);
    p->pc[piece].len = len;
    attach(p, piece);
}

void bl_picker_set_priority(bl_picker *p, uint32_t first, uint32_t last, enum bl_prio cls,
                            bool force)
{
    if (cls >= BL_PRIO_COUNT || !p->num_pieces || first >= p->num_pieces) return;
    if (last >= p->num_pieces) last = p->num_pieces - 1;
    for (uint32_t i = first; i <= last; i++) {
        struct piece *pc = &p->pc[i];
        if (!force && (unsigned)cls >= pc->cls) continue;
        detach(p, i);
        pc->cls = (uint8_t)cls;
        if (cls != BL_PRIO_DEADLINE) pc->deadline = BL_NO_DEADLINE;
        attach(p, i);
    }
    p->supply++;
}

void bl_picker_set_deadline(bl_picker *p, uint32_t piece, uint64_t deadline_ms)
{
    if (piece >= p->num_pieces) return;
    struct piece *pc = &p->pc[piece];
    detach(p, piece);
    pc->cls = BL_PRIO_DEADLINE;
    if (deadline_ms < pc->deadline) pc->deadline = deadline_ms;
    attach(p, piece);
    p->supply++;
}

enum bl_prio bl_picker_priority(const bl_picker *p, uint32_t piece)
{
    return piece < p->num_pieces ? (enum bl_prio)p->pc[piece].cls : BL_PRIO_NONE;
}

static void avail_add(bl_picker *p, uint32_t i, int sign)
{
    struct piece *pc = &p->pc[i];
    if (sign > 0) pc->avail++;
    else if (pc->avail) pc->avail--;
    else return;
    if (pc->avail == (sign > 0 ? 1u : 0u)) map_put(p->unheld, i, pc->avail == 0);
}

void bl_picker_peer_have(bl_picker *p, uint32_t piece)
{
    if (piece < p->num_pieces) avail_add(p, piece, +1);
}

void bl_picker_peer_unhave(bl_picker *p, uint32_t piece)
{
    if (piece < p->num_pieces) avail_add(p, piece, -1);
}

static void bitfield_add(bl_picker *p, const uint8_t *bits, bool has_all, int sign)
{
    if (has_all) {
        if (sign > 0) p->seeds++;
        else if (p->seeds) p->seeds--;
        return;
    }
    if (!bits) return;
    for (uint32_t i = 0; i < p->num_pieces; i++)
        if (peer_has(bits, false, i)) avail_add(p, i, sign);
}

void bl_picker_peer_bitfield(bl_picker *p, const uint8_t *bits, bool has_all)
{
    bitfield_add(p, bits, has_all, +1);
}

void bl_picker_peer_gone(bl_picker *p, const uint8_t *bits, bool has_all)
{
    bitfield_add(p, bits, has_all, -1);
}

uint32_t bl_picker_availability(const bl_picker *p, uint32_t piece)
{
    return piece < p->num_pieces ? p->pc[piece].avail + p->seeds : 0;
}

/* ---- candidate ordering ---- */

/* Order ignoring the random tie-breaker. */
static int cand_cmp_key(const struct cand *a, const struct cand *b)
{
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->cls == BL_PRIO_DEADLINE && a->deadline != b->deadline)
        return a->deadline < b->deadline ? -1 : 1;
    if (a->started != b->started) return a->started ? -1 : 1;
    if (a->avail != b->avail) return a->avail < b->avail ? -1 : 1;
    return 0;
}

static int cand_cmp(const struct cand *a, const struct cand *b)
{
    int c = cand_cmp_key(a, b);
    if (c) return c;
    if (a->rnd != b->rnd) return a->rnd < b->rnd ? -1 : 1;
    return a->piece < b->piece ? -1 : a->piece > b->piece;
}

/* Keep the best `cap` candidates, sorted best first.  With draw, ties are
 * broken by a random value, drawn only for candidates that can still make
 * the list.  Without, the first candidate offered wins a tie: the scan of
 * unstarted pieces starts at a random place instead, which spreads just as
 * well and costs one draw per scan rather than one per piece. */
static void cand_insert(bl_picker *p, int *n, int cap, uint32_t i, bool draw)
{
    const struct piece *pc = &p->pc[i];
    struct cand c = {
        .deadline = pc->deadline, .piece = i, .avail = pc->avail,
        .cls = pc->cls, .started = started(pc),
    };
    if (*n == cap && cand_cmp_key(&c, &p->cands[cap - 1]) >= (draw ? 1 : 0)) return;
    if (draw) {
        c.rnd = (uint32_t)(rng_next(p) >> 32);
        if (*n == cap && cand_cmp(&c, &p->cands[cap - 1]) >= 0) return;
    }
    int k = *n < cap ? (*n)++ : cap - 1;
    while (k > 0 && (draw ? cand_cmp(&c, &p->cands[k - 1]) : cand_cmp_key(&c, &p->cands[k - 1])) < 0) {
        p->cands[k] = p->cands[k - 1];
        k--;
    }
    p->cands[k] = c;
}

static bool cands_reserve(bl_picker *p, int cap)
{
    if (cap <= p->cand_cap) return true;
    struct cand *c = realloc(p->cands, (size_t)cap * sizeof *c);
    if (!c) return false;
    p->cands = c;
    p->cand_cap = cap;
    return true;
}

static bool in_endgame(const bl_picker *p);

/* Under the spare-seeds rule, is piece i better fetched from a non-seed? */
static bool spared(const bl_picker *p, bool spare, uint32_t i)
{
    return spare && p->pc[i].avail > 0 && p->pc[i].cls != BL_PRIO_DEADLINE;
}

/* Word w of a wire-order bitmap of nbytes bytes (zero beyond its end). */
static uint64_t map_word(const uint8_t *map, size_t nbytes, size_t w)
{
    uint64_t v = 0;
    size_t off = w * 8, len = nbytes - off < 8 ? nbytes - off : 8;
    memcpy(&v, map + off, len);
    return v;
}

/* The word mask (as map_word loads it) of the word's pieces b..63. */
static uint64_t pieces_from(uint32_t b)
{
    uint8_t bytes[8] = {0};
    for (uint32_t k = 0; k < 8; k++)
        bytes[k] = k < b / 8 ? 0 : k == b / 8 ? (uint8_t)(0xffu >> (b % 8)) : 0xff;
    uint64_t m;
    memcpy(&m, bytes, 8);
    return m;
}

/* Offer every unstarted wanted piece the peer has to the candidate list
 * (under spare seeds only those no other peer has). */
static void scan_unstarted(bl_picker *p, int *nc, int max, const uint8_t *peer_bits,
                           bool peer_has_all, bool spare)
{
    size_t nbytes = ((size_t)p->num_pieces + 7) / 8;
    /* DEADLINE pieces are never spared, so the unheld mask applies only
     * when there are none; otherwise each candidate is checked. */
    bool mask_unheld = spare && !p->cls_count[BL_PRIO_DEADLINE];
    /* Start at a random piece: its word is visited twice, first for the
     * pieces from the start on, last for those before it. */
    uint32_t start = (uint32_t)(rng_next(p) % p->num_pieces);
    uint64_t from_start = pieces_from(start % 64);
    size_t w = start / 64;
    for (size_t step = 0; step <= p->map_words; step++, w = w + 1 == p->map_words ? 0 : w + 1) {
        uint64_t m = map_word(p->fresh, p->map_words * 8, w);
        if (step == 0) m &= from_start;
        else if (step == p->map_words) m &= ~from_start;
        if (m && peer_bits) m &= map_word(peer_bits, nbytes, w);
        if (m && mask_unheld) m &= map_word(p->unheld, p->map_words * 8, w);
        if (!m) continue;
        uint8_t bytes[8];
        memcpy(bytes, &m, 8);
        for (int k = 0; k < 8; k++)
            for (unsigned b = bytes[k]; b; ) {
                unsigned bit = (unsigned)__builtin_clz(b) - 24u; /* 0 = MSB */
                b &= ~(0x80u >> bit);
                uint32_t i = (uint32_t)((w * 8 + (size_t)k) * 8 + bit);
                if (!mask_unheld && spared(p, spare, i)) continue;
                cand_insert(p, nc, max, i, false);
            }
    }
}

static bool in_endgame(const bl_picker *p)
{
    uint32_t wanted = 0;
    for (int c = 0; c < BL_PRIO_NONE; c++) wanted += p->cls_count[c];
    return wanted > 0 && p->wanted_free == 0;
}

static bool is_requester(const struct blk *b, uint32_t peer)
{
    if (b->nreq == 0) return false;
    if (b->peer0 == peer) return true;
    for (uint32_t k = 0; k + 1 < b->nreq; k++)
        if (b->more[k] == peer) return true;
    return false;
}

static bool add_requester(struct blk *b, uint32_t peer)
{
    if (b->nreq == 0) {
        b->peer0 = peer;
    } else {
        if (b->nreq - 1 == b->more_cap) {
            uint32_t cap = b->more_cap ? b->more_cap * 2 : 2;
            uint32_t *m = realloc(b->more, cap * sizeof *m);
            if (!m) return false;
            b->more = m;
            b->more_cap = cap;
        }
        b->more[b->nreq - 1] = peer;
    }
    b->nreq++;
    return true;
}

/* Take free blocks of piece i for peer; returns how many were added. */
static int take_free(bl_picker *p, uint32_t i, uint32_t peer, uint64_t now, bl_block *out, int max)
{
    struct piece *pc = &p->pc[i];
    uint32_t nb = bl_picker_blocks_in_piece(p, i);
    if (!pc->blocks && !(pc->blocks = calloc(nb, sizeof *pc->blocks))) return 0;
    int n = 0;
    detach(p, i);
    for (uint32_t j = 0; j < nb && n < max; j++) {
        struct blk *b = &pc->blocks[j];
        if (b->state != BLK_FREE) continue;
        b->state = BLK_REQ;
        b->nreq = 0;
        add_requester(b, peer); /* first requester never allocates */
        b->req_ms = now;
        pc->nreq++;
        p->outstanding++;
        out[n++] = (bl_block){i, j * p->bs, block_len(p, i, j)};
    }
    attach(p, i);
    settle(p, i);
    return n;
}

/* Duplicate requests (endgame, deadline rescue) from piece i for peer. */
static int take_dups(bl_picker *p, uint32_t i, uint32_t peer, uint64_t now, bool endgame,
                     bl_block *out, int max)
{
    struct piece *pc = &p->pc[i];
    uint32_t nb = bl_picker_blocks_in_piece(p, i);
    int n = 0;
    for (uint32_t j = 0; j < nb && n < max; j++) {
        struct blk *b = &pc->blocks[j];
        if (b->state != BLK_REQ || is_requester(b, peer)) continue;
        /* a duplicate only for a block that has been waiting a while: in
         * file and block modes few pieces are wanted, endgame is the normal
         * state, and duplicating every fresh request doubles the traffic */
        bool ok = endgame && b->nreq - 1 < p->endgame_extra &&
                  (now >= b->req_ms && now - b->req_ms >= p->endgame_delay_ms);
        if (!ok && p->rescue_ms && pc->cls == BL_PRIO_DEADLINE && b->nreq == 1 &&
            now >= b->req_ms && now - b->req_ms >= p->rescue_ms)
            ok = true;
        if (!ok || !add_requester(b, peer)) continue;
        p->outstanding++;
        out[n++] = (bl_block){i, j * p->bs, block_len(p, i, j)};
    }
    return n;
}

int bl_picker_next(bl_picker *p, uint32_t peer, const uint8_t *peer_bits, bool peer_has_all,
                   uint64_t now_ms, bl_block *out, int max)
{
    if (max <= 0 || (!peer_bits && !peer_has_all) || !cands_reserve(p, max)) return 0;
    int n = 0, nc = 0;
    /* Spare the seeds: from a peer that has everything, take only pieces no
     * other peer has, so each piece leaves a seed about once and peers
     * spread the rest (measured: also asking an idle seed for the rarest
     * pieces once nothing seed-only is left was slower, 4.7 s vs 4.4 s at
     * N=8, with more seed egress).  Not in endgame (measured: keeping the
     * seed out of endgame made the tail slower), not for deadlines, and not when
     * nothing at all is in flight (the other holders may be choking us). */
    bool spare = p->spare_seeds && peer_has_all && !in_endgame(p) && p->outstanding > 0;

    /* 1. Fresh blocks: pieces in progress, then (if they may lose or run
     * short) a scan of unstarted pieces. */
    for (uint32_t k = 0; p->active_free && k < p->nactive; k++) {
        uint32_t i = p->active[k];
        if (p->pc[i].cls != BL_PRIO_NONE && free_blocks(p, i) &&
            peer_has(peer_bits, peer_has_all, i) && !spared(p, spare, i))
            cand_insert(p, &nc, max, i, true);
    }
    int best_new = BL_PRIO_NONE;
    for (int c = 0; c < BL_PRIO_NONE; c++)
        if (p->unstarted[c]) {
            best_new = c;
            break;
        }
    if (best_new != BL_PRIO_NONE) {
        /* Unstarted pieces of class best_new lose to in-progress pieces of
         * the same class (except DEADLINE, where the deadline decides) and
         * of better classes.  Scan unless those alone fill the request. */
        uint64_t sure = 0;
        for (int k = 0; k < nc; k++) {
            const struct cand *c = &p->cands[k];
            if (!(c->cls < best_new || (c->cls == best_new && best_new != BL_PRIO_DEADLINE)))
                break;
            sure += free_blocks(p, c->piece);
        }
        if (sure < (uint64_t)max)
            scan_unstarted(p, &nc, max, peer_bits, peer_has_all, spare);
    }
    for (int k = 0; k < nc && n < max; k++)
        n += take_free(p, p->cands[k].piece, peer, now_ms, out + n, max - n);

    /* 2. Duplicates: endgame, or deadline rescue. */
    bool endgame = in_endgame(p);
    bool rescue = p->rescue_ms && p->cls_count[BL_PRIO_DEADLINE];
    if (n < max && (endgame || rescue)) {
        nc = 0;
        for (uint32_t k = 0; k < p->nactive; k++) {
            uint32_t i = p->active[k];
            const struct piece *pc = &p->pc[i];
            if (pc->cls == BL_PRIO_NONE || !pc->nreq || !peer_has(peer_bits, peer_has_all, i))
                continue;
            if (!endgame && pc->cls != BL_PRIO_DEADLINE) continue;
            cand_insert(p, &nc, max, i, true);
        }
        for (int k = 0; k < nc && n < max; k++)
            n += take_dups(p, p->cands[k].piece, peer, now_ms, endgame, out + n, max - n);
    }
    return n;
}

/* Find the block record for b, or NULL if b does not match the geometry
 * or its piece is not in progress. */
static struct blk *lookup(bl_picker *p, const bl_block *b, bool *bad_geometry)
{
    *bad_geometry = true;
    if (!b || b->piece >= p->num_pieces || b->offset % p->bs) return NULL;
    uint32_t j = b->offset / p->bs;
    if (j >= bl_picker_blocks_in_piece(p, b->piece) || b->length != block_len(p, b->piece, j))
        return NULL;
    *bad_geometry = false;
    struct piece *pc = &p->pc[b->piece];
    return pc->blocks && !pc->had ? &pc->blocks[j] : NULL;
}

int bl_picker_block_received(bl_picker *p, uint32_t peer, const bl_block *b,
                             uint32_t *cancel_peers, int max_cancel, bool *piece_complete)
{
    bool bad;
    if (piece_complete) *piece_complete = false;
    struct blk *k = lookup(p, b, &bad);
    /* Only from a peer we asked: a block pushed unasked (or arriving after
     * we cancelled or released it) could spoil a piece assembled from
     * honest peers' blocks. */
    if (!k || k->state != BLK_REQ || !is_requester(k, peer)) return -1;
    struct piece *pc = &p->pc[b->piece];
    int n = 0;
    for (uint32_t r = 0; r < k->nreq; r++) {
        uint32_t who = r == 0 ? k->peer0 : k->more[r - 1];
        if (who != peer && n < max_cancel && cancel_peers) cancel_peers[n++] = who;
    }
    detach(p, b->piece);
    if (k->state == BLK_REQ) pc->nreq--;
    drop_requests(p, k);
    k->state = BLK_GOT;
    pc->ngot++;
    attach(p, b->piece);
    if (piece_complete) *piece_complete = pc->ngot == bl_picker_blocks_in_piece(p, b->piece);
    return n;
}

int bl_picker_block_cancelled(bl_picker *p, uint32_t peer, const bl_block *b)
{
    bool bad;
    struct blk *k = lookup(p, b, &bad);
    if (!k || k->state != BLK_REQ || !is_requester(k, peer)) return -1;
    struct piece *pc = &p->pc[b->piece];
    detach(p, b->piece);
    if (k->peer0 == peer) {
        if (k->nreq > 1) {
            k->peer0 = k->more[0];
            memmove(k->more, k->more + 1, (k->nreq - 2) * sizeof *k->more);
        }
    } else {
        for (uint32_t r = 0; r + 1 < k->nreq; r++)
            if (k->more[r] == peer) {
                memmove(k->more + r, k->more + r + 1, (k->nreq - 2 - r) * sizeof *k->more);
                break;
            }
    }
    k->nreq--;
    p->outstanding--;
    if (k->nreq == 0) {
        k->state = BLK_FREE;
        pc->nreq--;
        p->supply++;
    }
    attach(p, b->piece);
    settle(p, b->piece);
    return 0;
}

int bl_picker_block_rejected(bl_picker *p, uint32_t peer, const bl_block *b)
{
    return bl_picker_block_cancelled(p, peer, b);
}

int bl_picker_peer_released(bl_picker *p, uint32_t peer)
{
    int released = 0;
    /* Backwards: settle() may swap the last active piece into slot k. */
    for (uint32_t k = p->nactive; k-- > 0;) {
        uint32_t i = p->active[k];
        uint32_t nb = bl_picker_blocks_in_piece(p, i);
        for (uint32_t j = 0; j < nb && p->pc[i].blocks; j++) {
            struct blk *b = &p->pc[i].blocks[j];
            if (b->state != BLK_REQ || !is_requester(b, peer)) continue;
            bl_block blk = {i, j * p->bs, block_len(p, i, j)};
            if (bl_picker_block_cancelled(p, peer, &blk) == 0) released++;
        }
    }
    return released;
}

void bl_picker_piece_verified(bl_picker *p, uint32_t piece)
{
    if (piece >= p->num_pieces || p->pc[piece].had) return;
    detach(p, piece);
    p->pc[piece].had = 1;
    attach(p, piece);
    settle(p, piece);
}

void bl_picker_piece_failed(bl_picker *p, uint32_t piece)
{
    if (piece >= p->num_pieces || p->pc[piece].had) return;
    struct piece *pc = &p->pc[piece];
    detach(p, piece);
    if (pc->blocks) {
        uint32_t nb = bl_picker_blocks_in_piece(p, piece);
        for (uint32_t j = 0; j < nb; j++) {
            drop_requests(p, &pc->blocks[j]);
            pc->blocks[j].state = BLK_FREE;
        }
    }
    pc->nreq = pc->ngot = 0;
    attach(p, piece);
    settle(p, piece);
    p->supply++;
}

uint64_t bl_picker_supply(const bl_picker *p) { return p->supply; }

bool bl_picker_requestable(const bl_picker *p, uint32_t piece)
{
    return piece < p->num_pieces && p->pc[piece].cls != BL_PRIO_NONE && free_blocks(p, piece) > 0;
}

bool bl_picker_dups_due(const bl_picker *p)
{
    return in_endgame(p) || (p->rescue_ms && p->cls_count[BL_PRIO_DEADLINE]);
}

bool bl_picker_have(const bl_picker *p, uint32_t piece)
{
    return piece < p->num_pieces && p->pc[piece].had;
}

bool bl_picker_on_demand(const bl_picker *p)
{
    return p->cls_count[BL_PRIO_DEADLINE] + p->cls_count[BL_PRIO_OPENED] > 0;
}

void bl_picker_get_stats(const bl_picker *p, bl_picker_stats *st)
{
    memset(st, 0, sizeof *st);
    st->num_pieces = p->num_pieces;
    st->had = p->had;
    for (int c = 0; c < BL_PRIO_COUNT; c++) {
        st->in_class[c] = p->cls_count[c];
        if (c != BL_PRIO_NONE) st->wanted += p->cls_count[c];
    }
    st->partial = p->nactive;
    st->outstanding = p->outstanding;
    st->endgame = in_endgame(p);
}
