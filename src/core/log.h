/* log: one line per notable event, on stderr.
 *
 * Lines look like "2026-11-22T10:00:00.123Z bitlib[pid] WARN text".  The
 * level threshold and the program tag are process-wide and set once by the
 * front end.  Never logs secrets or unbounded peer-supplied strings: callers
 * pass peer text through bl_log_safe(). */
#ifndef BL_CORE_LOG_H
#define BL_CORE_LOG_H

#include <stddef.h>

enum bl_log_level { BL_LOG_DEBUG, BL_LOG_INFO, BL_LOG_WARN, BL_LOG_ERROR };

void bl_log_set_level(enum bl_log_level level);
void bl_log_set_tag(const char *tag);
void bl_log(enum bl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bl_debug(...) bl_log(BL_LOG_DEBUG, __VA_ARGS__)
#define bl_info(...)  bl_log(BL_LOG_INFO, __VA_ARGS__)
#define bl_warn(...)  bl_log(BL_LOG_WARN, __VA_ARGS__)
#define bl_error(...) bl_log(BL_LOG_ERROR, __VA_ARGS__)

/* Copy at most n bytes of untrusted text into out (size outsz), replacing
 * non-printable bytes with '?'; returns out. */
char *bl_log_safe(char *out, size_t outsz, const void *text, size_t n);

#endif
