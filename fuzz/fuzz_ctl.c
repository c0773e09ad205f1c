/* libFuzzer target: the control socket's requests (fs/ctlreq.h), what any
 * local process may write to a mount daemon's socket.
 *
 * The input is a connection's byte stream: it is cut into lines as the
 * daemon cuts them, each line parsed, its PATH mapped under two mount roots
 * and resolved in the index of a small real set (built once with
 * bl_create: files, directories, symlinks in and out of the set, a loop).
 * Checks: lines never exceed the bound or hold a newline, a parsed PATH
 * points inside its line, a relative path is a suffix of PATH, and a
 * resolved entry is one of the index's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/ctlreq.h"
#include "fs/fsindex.h"
#include "meta/create.h"
#include "meta/metainfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bl_metainfo mi;
static bl_fsindex ix;
static bool ready;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_ctl: %s\n", what);
    abort();
}

static void put(const char *dir, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die("cannot write the fixture");
}

static void link_(const char *dir, const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (symlink(target, p) < 0)
        die("cannot make a fixture symlink");
}

static void setup(void)
{
    char dir[] = "/tmp/fuzz_ctl.XXXXXX", p[512];
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(p, sizeof p, "%s/lib", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/lib/sub", dir);
    mkdir(p, 0755);
    put(dir, "lib/libx.so.1", "x");
    put(dir, "lib/sub/liby.so", "yy");
    put(dir, "README", "r");
    link_(dir, "libx.so.1", "lib/libx.so");
    link_(dir, "../README", "lib/readme");
    link_(dir, "sub", "lib/s");
    link_(dir, "/etc/passwd", "lib/out");
    link_(dir, "../../..", "lib/up");
    link_(dir, "loop2", "lib/loop1");
    link_(dir, "loop1", "lib/loop2");
    const char *dirs[] = {dir};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .threads = 1, .mount = "/opt/libs"};
    bl_buf b;
    bl_buf_init(&b);
    bl_err err;
    if (bl_create(&o, &b, NULL, &err) < 0)
        die(err.msg);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    if (bl_metainfo_parse(&mi, raw, len, &err) < 0 || bl_fsindex_build(&ix, &mi, &err) < 0)
        die(err.msg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        die("cannot remove the fixture");
    ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    static const char *const roots[] = {"/mnt/x/", "/opt/libs"};
    size_t at = 0;
    for (int lines = 0; lines < 64; lines++) {
        char line[BL_CTL_LINE_MAX];
        size_t used = 0;
        int got = bl_ctl_next_line(data + at, size - at, line, &used);
        if (got < 0 && size - at < BL_CTL_LINE_MAX && memchr(data + at, '\n', size - at) == NULL)
            die("too long without the bytes for it");
        if (got <= 0)
            break;
        if (used == 0 || used > BL_CTL_LINE_MAX || at + used > size)
            die("bad line length");
        size_t n = strlen(line);
        if (n >= BL_CTL_LINE_MAX || memchr(line, '\n', n))
            die("line too long or with a newline");
        at += used;
        bl_ctl_req r;
        bl_ctl_parse(line, &r);
        bool has_path = r.op == BL_CTL_LOOKUP || r.op == BL_CTL_FETCH ||
                        r.op == BL_CTL_FETCH_RANGE;
        if (has_path != (r.path != NULL))
            die("path set for the wrong requests");
        if (!r.path)
            continue;
        if (r.path < line || r.path > line + n)
            die("path outside its line");
        const char *rel = bl_ctl_relative(r.path, roots, 2);
        if (rel && (rel < r.path || rel > r.path + strlen(r.path)))
            die("relative path is not a suffix");
        if (rel && r.path[0] == '/' && rel[0] != 0 && rel[0] != '/')
            die("relative path cut inside a component");
        if (!rel)
            continue;
        for (int follow = 0; follow < 2; follow++) {
            size_t e = bl_fsindex_resolve(&ix, rel, follow);
            if (e != BL_FS_NO_ENTRY && e >= mi.num_entries)
                die("resolved to no entry of the set");
        }
    }
    return 0;
}
