/* registry: node-local coordination of the processes (ranks) that share one
 * mount daemon, in one directory under the runtime directory (bitlib run).
 *
 *   DIR/lock      flock(2)ed while a rank joins (registers itself, and starts
 *                 the daemon if none serves) and while the daemon decides to
 *                 leave; it holds the last failed start ("<unix ms> <line>")
 *   DIR/holders/  one empty file "<pid>.<start>" per process using the mount
 *   DIR/keep      present: the mount stays after its last holder has gone
 *
 * A holder is a process named by PID and start time (clock ticks after boot,
 * /proc/PID/stat field 22), so a PID reused by an unrelated process is never
 * taken for a holder.  A holder whose process is gone (killed with SIGKILL
 * before it could say so) is stale: whoever counts holders removes it.
 * flock(2) locks die with their owner.  DIR is removed only by the lock's
 * owner, and a locker checks after locking that DIR/lock is still the file
 * it locked (else it locks again), so removal never lets two owners in. */
#ifndef BL_LAUNCH_REGISTRY_H
#define BL_LAUNCH_REGISTRY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

typedef struct bl_reg {
    char dir[PATH_MAX - 32];
    int lock_fd;                 /* -1 while not locked */
} bl_reg;

typedef struct bl_holder {
    pid_t pid;
    uint64_t start;
} bl_holder;

/* Start time of a live process (not a zombie); -1 if there is none. */
int bl_proc_start_time(pid_t pid, uint64_t *start);

/* The parsers of what the registry's files and /proc hold, apart for the
 * fuzzer (fuzz/fuzz_rendezvous.c): a /proc/PID/stat text (-1 for a zombie or
 * a malformed one); a holder's file name "<pid>.<start>" (false for any other
 * name); a failure record "<unix ms> <line>" (1 with msg set if it is one
 * made at or after since). */
int bl_proc_parse_start(const char *stat, uint64_t *start);
bool bl_reg_parse_holder(const char *name, pid_t *pid, uint64_t *start);
int bl_reg_parse_failure(const char *buf, int64_t since, char *msg, size_t msgsz);

int bl_reg_init(bl_reg *r, const char *dir, bl_err *err);

/* Take the lock, creating DIR as needed (mode 0700), waiting at most
 * timeout_ms.  If the owner we waited for recorded a failed start at or
 * after since_ms (unix ms; 0: ignore records), fail with its message: the
 * ranks that waited for one start all report its one line. */
int bl_reg_lock(bl_reg *r, int timeout_ms, int64_t since_ms, bl_err *err);
/* 1 locked, 0 someone else holds it, -1 error. */
int bl_reg_trylock(bl_reg *r, bl_err *err);
void bl_reg_unlock(bl_reg *r);

/* With the lock: record why a start failed (one line), or forget it. */
void bl_reg_set_failure(bl_reg *r, const char *msg);
void bl_reg_clear_failure(bl_reg *r);

/* With the lock: add or remove a holder (start 0: look it up). */
int bl_reg_add(bl_reg *r, pid_t pid, bl_err *err);
void bl_reg_remove(bl_reg *r, pid_t pid, uint64_t start);
/* Live holders, up to max of them into out (may be NULL); stale ones are
 * removed on the way.  Returns the number of live holders. */
size_t bl_reg_holders(bl_reg *r, bl_holder *out, size_t max);

int bl_reg_set_keep(bl_reg *r, bl_err *err);
bool bl_reg_keep(const bl_reg *r);

/* With the lock: remove DIR and everything in it unless a live holder is
 * left (then nothing is removed), then unlock. */
void bl_reg_remove_all(bl_reg *r);

#endif
