#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One line whatever the arguments held: a path or a name from outside may
 * carry a newline or a terminal escape, and a message is logged as one line
 * (fuzz_metainfo: a symlink named "b\n..." split its error in two). */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

int bl_fail(bl_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    one_line(err->msg);
    return -1;
}

int bl_fail_ctx(bl_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    one_line(err->msg);
    return -1;
}
