/* err: how a failure travels back to a caller.
 *
 * A function that can fail takes `bl_err *err` last and returns -1 (or NULL)
 * after filling err->msg with one line a person can act on ("what: why").
 * err may be NULL when the caller does not care.  The message never ends in
 * a newline; the front end decides where it goes.  Control bytes in it (a
 * newline inside a path from outside) are replaced with '?'. */
#ifndef BL_CORE_ERR_H
#define BL_CORE_ERR_H

#include <stddef.h>

typedef struct bl_err {
    char msg[512];
    size_t offset;      /* byte offset of a parse error, when it has one */
} bl_err;

/* Fill err (if non-NULL) from a printf format; always returns -1. */
int bl_fail(bl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix an existing message: "ctx: old message"; returns -1. */
int bl_fail_ctx(bl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
