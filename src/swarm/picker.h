/* picker: which blocks to ask a peer for next.  Pure policy: no sockets, no
 * clocks (the caller passes the time in ms), a seeded RNG, so a simulator
 * replays the same choices.
 *
 * Pieces carry a priority class (DEADLINE > OPENED > PREFETCH > BULK; NONE
 * is never fetched).  Inside a class: DEADLINE pieces go earliest deadline
 * first; then pieces already in progress go before new ones (few half
 * pieces); then rarest first, ties broken at random (among new pieces: the
 * first from a random starting piece on) so that many nodes asking one
 * seeder spread over its pieces.  Requests are per block.
 *
 * Invariant: outside endgame no block is outstanding at two peers.  Endgame
 * starts when every block of every wanted piece is requested or received;
 * then a block may be asked of at most `endgame_extra` more peers
 * (cooperative: 1, stock: unlimited), and when it arrives the picker names
 * the peers whose duplicate requests to cancel.
 *
 * The picker keeps who-has-which-block state for pieces in progress only
 * (memory grows with partial pieces, not with the torrent).  Peers are
 * named by a caller-chosen uint32_t id. */
#ifndef BL_SWARM_PICKER_H
#define BL_SWARM_PICKER_H

#include <stdbool.h>
#include <stdint.h>

enum bl_prio {
    BL_PRIO_DEADLINE = 0, /* a blocked read waits for it */
    BL_PRIO_OPENED,       /* rest of opened files */
    BL_PRIO_PREFETCH,
    BL_PRIO_BULK,
    BL_PRIO_NONE,         /* not wanted (block mode default) */
    BL_PRIO_COUNT
};

#define BL_BLOCK_SIZE (16u * 1024u)
#define BL_NO_DEADLINE UINT64_MAX
#define BL_ENDGAME_STOCK UINT32_MAX

typedef struct bl_block {
    uint32_t piece, offset, length;
} bl_block;

typedef struct bl_picker bl_picker;

typedef struct bl_picker_stats {
    uint32_t num_pieces;
    uint32_t had;                    /* verified pieces */
    uint32_t wanted;                 /* not had and class != NONE */
    uint32_t in_class[BL_PRIO_COUNT];/* not-had pieces per class */
    uint32_t partial;                /* pieces with blocks requested or received */
    uint64_t outstanding;            /* block requests in flight, duplicates counted */
    bool endgame;
} bl_picker_stats;

/* All pieces start in class NONE.  piece_length and block_size must be > 0,
 * 0 < last_piece_length <= piece_length (num_pieces 0 is allowed).  NULL on
 * bad geometry or out of memory. */
bl_picker *bl_picker_new(uint32_t num_pieces, uint32_t piece_length, uint32_t last_piece_length,
                         uint32_t block_size, uint64_t seed);
void bl_picker_free(bl_picker *p);

/* Fetch only the first len bytes of a piece (1..its size; the rest is
 * padding, zeros by definition): its blocks end there.  Ignored once the
 * piece is in progress. */
void bl_picker_set_piece_length(bl_picker *p, uint32_t piece, uint32_t len);

/* Extra peers one block may be asked of in endgame: 1 (default, cooperative)
 * or BL_ENDGAME_STOCK (every peer).  0 disables duplicates altogether. */
void bl_picker_set_endgame_extra(bl_picker *p, uint32_t extra);
/* Endgame duplicates only for blocks outstanding at least ms (0, the
 * default: at once, as stock clients do).  Cooperative swarms wait a
 * little, because in file and block modes endgame is the normal state. */
void bl_picker_set_endgame_delay(bl_picker *p, uint32_t ms);
/* Spare seeds (off by default; cooperative swarms turn it on): a peer that
 * has everything (peer_has_all) is asked only for pieces that no other
 * connected peer has, except in endgame, for DEADLINE pieces, and when no
 * request at all is in flight.  Peers then spread what they got, and each
 * piece leaves a seed about once. */
void bl_picker_set_spare_seeds(bl_picker *p, bool on);
/* Deadline rescue (0 = off, the default): a block of a DEADLINE piece that
 * has been outstanding at one peer for at least ms may be asked of one more
 * peer even outside endgame. */
void bl_picker_set_deadline_rescue(bl_picker *p, uint32_t ms);

/* Class of pieces [first, last] (clamped).  Only upgrades (towards
 * DEADLINE) unless force; forcing a class other than DEADLINE drops any
 * deadline. */
void bl_picker_set_priority(bl_picker *p, uint32_t first, uint32_t last, enum bl_prio cls,
                            bool force);
/* Put a piece in DEADLINE class; keeps the earlier of two deadlines. */
void bl_picker_set_deadline(bl_picker *p, uint32_t piece, uint64_t deadline_ms);
enum bl_prio bl_picker_priority(const bl_picker *p, uint32_t piece);

/* Availability: one call per peer event.  bits are in wire order (bit 7 of
 * byte 0 = piece 0), (num_pieces+7)/8 bytes; has_all counts the peer as
 * having every piece (BEP 6 HAVE ALL; bits may then be NULL).  A peer that
 * leaves must be removed with the same bits/has_all it accumulated. */
void bl_picker_peer_have(bl_picker *p, uint32_t piece);
/* Undo one peer_have (a promised piece that did not come). */
void bl_picker_peer_unhave(bl_picker *p, uint32_t piece);
void bl_picker_peer_bitfield(bl_picker *p, const uint8_t *bits, bool has_all);
void bl_picker_peer_gone(bl_picker *p, const uint8_t *bits, bool has_all);
uint32_t bl_picker_availability(const bl_picker *p, uint32_t piece);

/* True while some wanted piece is in class DEADLINE or OPENED: this node
 * reads on demand rather than fetching in bulk. */
bool bl_picker_on_demand(const bl_picker *p);

/* For callers that skip bl_picker_next for a peer it just gave nothing
 * (a scan per HAVE from that peer was ~90% of all picker calls at N=16):
 * bl_picker_supply() changes whenever blocks can become requestable other
 * than through a peer's new piece -- blocks released or cancelled, a failed
 * piece, a class or deadline set.  bl_picker_requestable(): piece has free
 * blocks of a wanted class.  bl_picker_dups_due(): duplicate requests
 * (endgame, deadline rescue) may be given, which become due with time
 * alone: then no call may be skipped. */
uint64_t bl_picker_supply(const bl_picker *p);
bool bl_picker_requestable(const bl_picker *p, uint32_t piece);
bool bl_picker_dups_due(const bl_picker *p);

/* Up to max blocks to request from `peer` (which has peer_bits, or all),
 * in the order to send them; marks them outstanding at that peer.
 * peer_has_all says the peer is a seed (for the spare-seeds rule); a
 * non-NULL peer_bits then still restricts what it may be asked for (the
 * pieces it just rejected or that are reserved for another peer).
 * Returns the count (0: nothing this peer can give us now). */
int bl_picker_next(bl_picker *p, uint32_t peer, const uint8_t *peer_bits, bool peer_has_all,
                   uint64_t now_ms, bl_block *out, int max);

/* Block data arrived from peer.  Returns -1 if it is not wanted (bad
 * geometry, piece had, block already received, or not requested from this
 * peer -- unasked data is never used: drop it), else the
 * number of peers written to cancel_peers (at most max_cancel) to which a
 * CANCEL for this block should go.  *piece_complete (may be NULL) is set
 * when every block of the piece is in: verify it, then call
 * piece_verified or piece_failed. */
int bl_picker_block_received(bl_picker *p, uint32_t peer, const bl_block *b,
                             uint32_t *cancel_peers, int max_cancel, bool *piece_complete);
/* The request of b at peer is gone (we cancelled it, choke without fast
 * extension, timeout): b becomes requestable again if nobody else has it
 * outstanding.  Returns -1 if b was not outstanding at peer. */
int bl_picker_block_cancelled(bl_picker *p, uint32_t peer, const bl_block *b);
/* BEP 6 REJECT REQUEST: same effect as cancelled. */
int bl_picker_block_rejected(bl_picker *p, uint32_t peer, const bl_block *b);
/* Every request outstanding at peer is gone (disconnect, choke).  Returns
 * how many were released. */
int bl_picker_peer_released(bl_picker *p, uint32_t peer);

/* The piece passed its hash check (or was found on disk): never fetch it. */
void bl_picker_piece_verified(bl_picker *p, uint32_t piece);
/* Hash failure: every block becomes requestable again. */
void bl_picker_piece_failed(bl_picker *p, uint32_t piece);
bool bl_picker_have(const bl_picker *p, uint32_t piece);

/* Geometry: bytes fetched of a piece (its size, or less after
 * bl_picker_set_piece_length) and how many blocks they make. */
uint32_t bl_picker_piece_size(const bl_picker *p, uint32_t piece);
uint32_t bl_picker_blocks_in_piece(const bl_picker *p, uint32_t piece);

void bl_picker_get_stats(const bl_picker *p, bl_picker_stats *st);

#endif
