/* node: the node daemon's core, shared by every front end (the FUSE mount,
 * the local control socket, later an LD_AUDIT library).
 *
 * It owns the description's file index and the swarm (whose store is the
 * node's cache directory), applies the mode's policy (what to want at
 * start, on open, on read), and offers the one primitive the front ends
 * need: "make these bytes of this file local and tell me when"
 * (bl_node_wait), with a timeout that fails rather than hangs.  Everything
 * runs on the caller's loop; callbacks come from the loop, never from
 * inside bl_node_wait. */
#ifndef BL_FS_NODE_H
#define BL_FS_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/evloop.h"
#include "fs/fsindex.h"
#include "meta/metainfo.h"
#include "swarm/swarm.h"

enum bl_fs_mode { BL_FS_BULK, BL_FS_FILE, BL_FS_HYBRID, BL_FS_BLOCK };

const char *bl_fs_mode_name(enum bl_fs_mode m);
int bl_fs_mode_parse(const char *s, enum bl_fs_mode *m);

typedef struct bl_node_config {
    const bl_metainfo *mi;       /* must outlive the node */
    const char *cache_dir;       /* the store */
    enum bl_fs_mode mode;
    uint64_t read_timeout_ms;    /* no needed piece for this long: fail (EIO) */
    const char *listen;          /* swarm listen address, NULL: none */
    bool use_trackers;
    enum bl_policy policy;
    const struct bl_secret *secret; /* a private swarm (swarm/swarm.h), NULL: open */
    bool allow_stock;
    const char *log_path;        /* the daemon's log, for status (NULL: stderr) */
    bool no_elf_readahead;       /* file, hybrid: do not fetch opened objects' DT_NEEDED */
    const char *learn_path;      /* keep the first-open trace here (bl_node_write_trace), or NULL */
    /* Without FUSE (fs/tree.h): the materialised tree, for status ("front":
     * "tree", "tree": its path); NULL for a FUSE mount. */
    const char *tree_dir;
    /* Called after each verified piece (waiters already answered), e.g. to
     * materialise files that became complete; may be NULL. */
    void (*on_piece)(void *arg, uint32_t piece);
    void *on_piece_arg;
} bl_node_config;

/* What the front ends did, for status.  Front ends bump these. */
typedef struct bl_node_counters {
    uint64_t lookups, lookups_negative, getattrs, readdirs, readlinks, statfs;
    uint64_t opens, reads, read_bytes;
    uint64_t cache_hits;       /* reads answered without waiting */
    uint64_t reads_waited;     /* reads that had to wait for pieces */
    uint64_t read_timeouts, read_errors, interrupted;
    uint64_t erofs;            /* write-type operations refused */
    uint64_t fetches, fetch_timeouts; /* control-socket "fetch" requests */
} bl_node_counters;

typedef struct bl_node bl_node;

/* result: 0 when the bytes are local, ETIMEDOUT (with the first missing
 * piece) when they could not come in time, ECANCELED at shutdown, or the
 * cache's write error (ENOSPC, EDQUOT, EIO...) when pieces cannot be stored:
 * waiting reads then fail at once rather than hold a download loop. */
typedef void (*bl_node_ready_fn)(void *arg, int result, uint32_t piece);

bl_node *bl_node_new(bl_loop *loop, const bl_node_config *cfg, bl_err *err);
/* Apply the start-up policy (bulk: everything; hybrid: the prefetch list),
 * start the swarm and the timeout clock. */
int bl_node_start(bl_node *n, bl_err *err);
/* Answer every waiter with ECANCELED and stop the swarm. */
void bl_node_stop(bl_node *n);
void bl_node_free(bl_node *n);

bl_swarm *bl_node_swarm(bl_node *n);
const bl_fsindex *bl_node_index(const bl_node *n);
const bl_metainfo *bl_node_mi(const bl_node *n);
bl_node_counters *bl_node_counters_of(bl_node *n);
enum bl_fs_mode bl_node_mode(const bl_node *n);
uint64_t bl_node_read_timeout_ms(const bl_node *n);
const char *bl_node_cache_dir(const bl_node *n);
/* The cache's write error while pieces cannot be stored, else 0. */
int bl_node_store_errno(const bl_node *n);

/* An application opened a regular file (entry index): in file, hybrid and
 * bulk mode its pieces become OPENED; block mode waits for reads. */
void bl_node_opened(bl_node *n, size_t entry);

/* The entries applications opened, in the order of their first open (what
 * `bitlib prefetch learn` turns into a prefetch list); *entries stays valid
 * until the next open. */
size_t bl_node_opened_list(const bl_node *n, const size_t **entries);
/* Write that order to path, one set-relative path per line (written under
 * a temporary name, then renamed).  With cfg.learn_path the node does this
 * itself, at most once a second while files are opened, and at stop. */
int bl_node_write_trace(const bl_node *n, const char *path, bl_err *err);

/* Make bytes [off, off+len) of regular-file entry local (len 0: to the end
 * of the file).  Returns 1 if they already are (fn is not called), 0 if fn
 * will be called exactly once later (the missing pieces get a deadline:
 * first in the swarm's queue), -1 if too many are waiting, -2 if a needed
 * piece timed out moments ago (*failed_piece, may be NULL): fail at once,
 * -3 if a needed piece is missing while the cache cannot store pieces
 * (bl_node_store_errno says why): fail at once.
 * *id (may be NULL) names the wait for bl_node_cancel. */
int bl_node_wait(bl_node *n, size_t entry, uint64_t off, uint64_t len, bl_node_ready_fn fn,
                 void *arg, int64_t *id, uint32_t *failed_piece);
/* Forget a wait without calling its fn.  True if it was still waiting. */
bool bl_node_cancel(bl_node *n, int64_t id);
size_t bl_node_waiting(const bl_node *n);

/* Copy up to len bytes of regular-file entry from off; only verified
 * bytes (BL_STORE_NOT_HAD if a covering piece is missing). */
int64_t bl_node_read(bl_node *n, size_t entry, uint64_t off, size_t len, uint8_t *out,
                     bl_err *err);
/* True if every piece of the set is local. */
bool bl_node_all_local(const bl_node *n);
/* True if every piece of entry is local (entries without data: true). */
bool bl_node_entry_local(const bl_node *n, size_t entry);

/* The status object (one JSON object, no newline): pieces, bytes, queue per
 * class, peers, counters, waits. */
void bl_node_status_json(bl_node *n, bl_buf *b, const char *mountpoint);

#endif
