/* stream: the files of an offload read or written as one byte stream (the
 * files concatenated in order), the way stripes see them.  Bytes past the
 * end read as zeros (the last stripe's padding) and are dropped on write. */
#ifndef BL_OFFLOAD_STREAM_H
#define BL_OFFLOAD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct bl_stream {
    int *fds;
    uint64_t *len;
    size_t n;
    uint64_t total;
} bl_stream;

/* fds and lengths are the caller's; bl_stream only indexes them. */
int bl_stream_read(const bl_stream *s, uint64_t off, uint8_t *buf, size_t len, bl_err *err);
int bl_stream_write(const bl_stream *s, uint64_t off, const uint8_t *buf, size_t len, bl_err *err);

#endif
