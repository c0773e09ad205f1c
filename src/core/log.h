/* log: one line per notable event, on stderr.
 *
 * Lines look like "2026-11-22T10:00:00.123Z bitlib[pid] WARN text".  The
 * level threshold and the program tag are process-wide and set once by the
 * front end.  Never logs secrets or unbounded peer-supplied strings: callers
 * pass peer text through bl_log_safe(). */
#ifndef BL_CORE_LOG_H
#define BL_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum bl_log_level { BL_LOG_DEBUG, BL_LOG_INFO, BL_LOG_WARN, BL_LOG_ERROR };

void bl_log_set_level(enum bl_log_level level);
void bl_log_set_tag(const char *tag);
/* Plain lines for commands a person runs and waits for (create, inspect):
 * "TAG: warning: text", "TAG: error: text", "TAG: text", no time or pid. */
void bl_log_set_plain(bool plain);
/* A progress line (no newline) is on stderr, a terminal: the next log line
 * first clears it (the caller redraws it afterwards). */
void bl_log_progress_shown(bool shown);
void bl_log(enum bl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bl_debug(...) bl_log(BL_LOG_DEBUG, __VA_ARGS__)
#define bl_info(...)  bl_log(BL_LOG_INFO, __VA_ARGS__)
#define bl_warn(...)  bl_log(BL_LOG_WARN, __VA_ARGS__)
#define bl_error(...) bl_log(BL_LOG_ERROR, __VA_ARGS__)

/* Log files of detached daemons.  bl_log_open_file opens path for
 * appending (0644), first moving a file larger than BL_LOG_ROTATE_BYTES to
 * path.1 (one older generation is kept, replacing the one before); the
 * caller opens it before detaching so that a bad path is refused with a
 * message, not silenced.  bl_log_rotate_stderr, called now and then by the
 * daemon, does the same to the log it is writing (stderr) once it grew
 * past the limit.  Both return -1 with err/errno on failure. */
#define BL_LOG_ROTATE_BYTES (8u << 20)
int bl_log_open_file(const char *path, char *why, size_t whysz);
int bl_log_rotate_stderr(const char *path);

/* Copy at most n bytes of untrusted text into out (size outsz), replacing
 * non-printable bytes with '?'; returns out. */
char *bl_log_safe(char *out, size_t outsz, const void *text, size_t n);

#endif
