/* ctlreq: the control socket's request syntax (protocol in fs/ctl.h) as pure
 * functions, apart from sockets and the loop, so that the parser of what any
 * local process may send is fuzzed (fuzz/fuzz_ctl.c) and tested alone.
 *
 *   bl_ctl_next_line  cuts one request line off the input buffer
 *   bl_ctl_parse      tells the request and its arguments
 *   bl_ctl_relative   maps a request PATH to a set-relative path */
#ifndef BL_FS_CTLREQ_H
#define BL_FS_CTLREQ_H

#include <stddef.h>
#include <stdint.h>

#define BL_CTL_LINE_MAX 4096 /* a request line with its '\n' */

enum bl_ctl_op {
    BL_CTL_UNKNOWN = 0,
    BL_CTL_PING,
    BL_CTL_STATUS,
    BL_CTL_OPENED,      /* the first-open order */
    BL_CTL_LOOKUP,      /* path */
    BL_CTL_FETCH,       /* path */
    BL_CTL_FETCH_RANGE, /* off, len, path */
    BL_CTL_BAD_RANGE,   /* "fetch-range" with malformed numbers or no path */
};

typedef struct bl_ctl_req {
    enum bl_ctl_op op;
    const char *path;   /* points into the line */
    uint64_t off, len;
} bl_ctl_req;

/* Cut the first line of in[0..n): 1 with line set (NUL-terminated, without
 * its '\n' and a trailing '\r'; an embedded NUL ends it) and *used the bytes
 * to consume; 0 if no whole line is there yet; -1 if the line is longer
 * than BL_CTL_LINE_MAX bytes (the connection is then closed). */
int bl_ctl_next_line(const uint8_t *in, size_t n, char line[BL_CTL_LINE_MAX], size_t *used);

void bl_ctl_parse(const char *line, bl_ctl_req *r);

/* PATH relative to the set: itself if it is relative; without the first of
 * roots (absolute directories, trailing '/' allowed, NULL or "" skipped) it
 * lies under; NULL if none. */
const char *bl_ctl_relative(const char *path, const char *const *roots, size_t nroots);

#endif
