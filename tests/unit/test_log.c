/* Unit tests for log lines (src/core/log.c): plain lines for interactive
 * commands, a progress line cleared before a log line (issue 10, defect 11),
 * and the log rotation of detached daemons (defect 11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

/* Run one bl_warn with stderr sent to a file; return what it wrote. */
static char *capture_warn(const char *text)
{
    char path[] = "/tmp/bl_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    bl_warn("%s", text);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char buf[2048];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = 0;
    close(fd);
    unlink(path);
    return buf;
}

static void test_plain_and_progress(void **state)
{
    (void)state;
    bl_log_set_tag("bitlib create");
    bl_log_set_plain(true);
    assert_string_equal(capture_warn("a link leads out"), "bitlib create: warning: a link leads out\n");
    bl_log_progress_shown(true);
    assert_string_equal(capture_warn("x"), "\r\033[Kbitlib create: warning: x\n");
    bl_log_progress_shown(false);
    bl_log_set_plain(false);
    bl_log_set_tag("bitlib");
    char *line = capture_warn("y");
    assert_non_null(strstr(line, "Z bitlib["));
    assert_non_null(strstr(line, "] WARN y\n"));
}

static void test_rotation(void **state)
{
    (void)state;
    char dir[] = "/tmp/bl_logrot_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[64], old[80];
    snprintf(log, sizeof log, "%s/d.log", dir);
    snprintf(old, sizeof old, "%s.1", log);
    int fd = open(log, O_WRONLY | O_CREAT, 0644);
    assert_int_equal(ftruncate(fd, BL_LOG_ROTATE_BYTES + 1), 0);
    close(fd);
    char why[64];
    fd = bl_log_open_file(log, why, sizeof why);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(stat(old, &st), 0);
    assert_int_equal(st.st_size, BL_LOG_ROTATE_BYTES + 1);
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(fd);
    assert_int_equal(bl_log_open_file("/nonexistent/dir/x.log", why, sizeof why), -1);
    assert_string_equal(why, "No such file or directory");
    unlink(old);
    unlink(log);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_progress),
        cmocka_unit_test(test_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
