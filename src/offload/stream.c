/* stream: files as one byte stream (see stream.h). */
#include "offload/stream.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int io(const bl_stream *s, uint64_t off, uint8_t *buf, size_t len, int wr, bl_err *err)
{
    uint64_t base = 0;
    for (size_t i = 0; i < s->n && len; i++) {
        uint64_t end = base + s->len[i];
        if (off < end) {
            size_t n = (size_t)(end - off < len ? end - off : len);
            uint64_t at = off - base;
            size_t done = 0;
            while (done < n) {
                ssize_t r = wr ? pwrite(s->fds[i], buf + done, n - done, (off_t)(at + done))
                               : pread(s->fds[i], buf + done, n - done, (off_t)(at + done));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0)
                    return bl_fail(err, "file %zu of the offload: %s: %s", i + 1, wr ? "write" : "read",
                                   strerror(errno));
                if (r == 0) {
                    if (wr)
                        return bl_fail(err, "file %zu of the offload: short write", i + 1);
                    memset(buf + done, 0, n - done);   /* shrank under us: hashes will tell */
                    break;
                }
                done += (size_t)r;
            }
            buf += n;
            off += n;
            len -= n;
        }
        base = end;
    }
    if (len && !wr)
        memset(buf, 0, len);
    return 0;
}

int bl_stream_read(const bl_stream *s, uint64_t off, uint8_t *buf, size_t len, bl_err *err)
{
    return io(s, off, buf, len, 0, err);
}

int bl_stream_write(const bl_stream *s, uint64_t off, const uint8_t *buf, size_t len, bl_err *err)
{
    return io(s, off, (uint8_t *)(uintptr_t)buf, len, 1, err);
}
