/* ctl: the node daemon's local control socket, on the daemon's loop.
 *
 * It is the daemon's "make this file (or these bytes) local and tell me
 * when" interface for front ends outside FUSE (an LD_AUDIT library, job
 * wrappers) and the source of `bitlib status`.
 *
 * Where: a unix stream socket, by default RUNDIR/<key>.sock where RUNDIR is
 * /run/bitlib for root (else $XDG_RUNTIME_DIR/bitlib, else
 * /tmp/bitlib-<uid>; $BITLIB_RUNTIME_DIR overrides all three, for emulated
 * nodes that share one host's file system) and key = the first 16 hex digits of the SHA-1 of the
 * mount point's canonical path (bl_fusefs_canonical).  Root's socket is
 * mode 0666: the data is read-only and the loader of any user needs it.
 *
 * Protocol: the client sends one request line (at most 4096 bytes with its
 * '\n'), the daemon answers with one line holding one JSON object.  A
 * connection may carry several requests; they are answered in order (the
 * next one is read only after the current one is answered).  PATH is the
 * rest of the line: set-relative ("lib/libx.so"), or absolute under the
 * mount point or under the description's recorded mount; symlinks are
 * followed inside the set.
 *
 *   ping                      {"ok":true}
 *   status                    the node's status object (bl_node_status_json)
 *   opened                    {"ok":true,"opened":[PATH...]}: the set-relative paths
 *                              applications opened, in the order of their first open
 *   lookup PATH               {"ok":true,"path","type":"file|dir|symlink","mode",
 *                              "size","local"[,"target"]}  (description only: no network)
 *   fetch PATH                answered when every byte of the file is local:
 *                              {"ok":true,"path","size","cache":"<file in the cache>",
 *                               "waited_ms"}
 *   fetch-range OFF LEN PATH  the same for bytes [OFF, OFF+LEN) (LEN 0: to the end)
 *
 * A daemon without FUSE (fs/tree.h) answers a fetch of a whole file only
 * once the file is in its tree, and adds "tree":"<the file in the tree>".
 *
 * Failures answer {"ok":false,"error":"..."}; a fetch whose pieces stop
 * coming fails after the mount's --read-timeout, like a read would.
 *
 * The seeder, fetch and the tracker serve the same socket design with ping
 * and status only (bl_ctl_serve): their status objects carry "kind"
 * ("seed", "fetch", "tracker"; a mount's says "mount") and "pid".  Their
 * socket names hash "seed:DIR", "fetch:DIR" (DIR canonical) and
 * "tracker:ADDR:PORT" instead of a mount point.  `bitlib status` with no
 * argument asks every socket in the runtime directory (root: every user's
 * too, bl_ctl_runtime_dirs). */
#ifndef BL_FS_CTL_H
#define BL_FS_CTL_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/evloop.h"
#include "fs/node.h"

#include "fs/ctlreq.h" /* BL_CTL_LINE_MAX, the request syntax */

typedef struct bl_ctl bl_ctl;

/* Serve on sock_path (a stale socket file is replaced; a live one is an
 * error).  mountpoint is the canonical mount point, for path translation
 * and reports. */
bl_ctl *bl_ctl_new(bl_loop *loop, bl_node *node, const char *sock_path, const char *mountpoint,
                   bl_err *err);
/* A control socket for a daemon without a mount: it answers ping, and
 * status with what status(arg, out) appends (one JSON object). */
typedef void (*bl_ctl_status_fn)(void *arg, bl_buf *out);
bl_ctl *bl_ctl_serve(bl_loop *loop, const char *sock_path, bl_ctl_status_fn status, void *arg,
                     bl_err *err);
/* Without FUSE: fetches materialise into this tree (fs/tree.h). */
struct bl_tree;
void bl_ctl_set_tree(bl_ctl *c, struct bl_tree *tree);
/* Close every connection (their waits are cancelled) and remove the socket. */
void bl_ctl_free(bl_ctl *c);

/* The runtime directory (created if missing) and the default paths for a
 * canonical mount point: RUNDIR/<key>.sock and RUNDIR/<key>.log. */
int bl_ctl_runtime_dir(char *out, size_t outsz, bool create, bl_err *err);
int bl_ctl_default_path(const char *canonical_mp, const char *suffix, bool create, char *out,
                        size_t outsz, bl_err *err);
/* Every runtime directory `bitlib status` looks in: this user's, and for
 * root also /run/user/<uid>/bitlib and /tmp/bitlib-<uid> of every user.
 * fn is called with each that exists. */
void bl_ctl_runtime_dirs(void (*fn)(const char *dir, void *arg), void *arg);

/* Client side: send one request line (without '\n') and read one reply
 * line into reply (without '\n'), waiting at most timeout_ms (< 0: forever). */
int bl_ctl_request(const char *sock_path, const char *line, int timeout_ms, bl_buf *reply,
                   bl_err *err);

#endif
