#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum bl_log_level threshold = BL_LOG_INFO;
static const char *tag = "bitlib";
static bool plain, progress_shown;

void bl_log_set_level(enum bl_log_level level) { threshold = level; }
void bl_log_set_tag(const char *t) { tag = t; }
void bl_log_set_plain(bool p) { plain = p; }
void bl_log_progress_shown(bool shown) { progress_shown = shown; }

void bl_log(enum bl_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < threshold)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[1024];
    /* "\r\033[K" clears a progress line first (it is redrawn at its next tick) */
    const char *clear = progress_shown ? "\r\033[K" : "";
    static const char *plain_names[] = {"debug: ", "", "warning: ", "error: "};
    int n = plain ? snprintf(line, sizeof line, "%s%s: %s", clear, tag, plain_names[level])
                  : snprintf(line, sizeof line, "%s%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %s ",
                             clear, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                             tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), tag, (int)getpid(),
                             names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent processes do not interleave. */
    fprintf(stderr, "%s\n", line);
}

static void rotate(const char *path)
{
    char old[4096];
    if (snprintf(old, sizeof old, "%s.1", path) < (int)sizeof old)
        rename(path, old);
}

int bl_log_open_file(const char *path, char *why, size_t whysz)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)BL_LOG_ROTATE_BYTES)
        rotate(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 && why)
        snprintf(why, whysz, "%s", strerror(errno));
    return fd;
}

int bl_log_rotate_stderr(const char *path)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size <= (off_t)BL_LOG_ROTATE_BYTES)
        return 0;
    rotate(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    dup2(fd, STDERR_FILENO);
    close(fd);
    bl_info("log rotated: the earlier part is in %s.1", path);
    return 0;
}

char *bl_log_safe(char *out, size_t outsz, const void *text, size_t n)
{
    const unsigned char *s = text;
    size_t i;
    if (outsz == 0)
        return out;
    for (i = 0; i < n && i + 1 < outsz; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    out[i] = '\0';
    return out;
}
