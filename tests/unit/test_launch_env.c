/* Unit tests for the program environment of bitlib run (src/launch/env.c)
 * and for re-encoding a description's per-job part (src/meta/jobmeta.c):
 * detected LD_LIBRARY_PATH and PYTHONPATH, recorded bitlib.env winning over
 * detection, command-line overrides (relative, absolute, NAME= to drop), the
 * caller's value kept after ours; a rewrite keeps the info-hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "launch/env.h"
#include "meta/create.h"
#include "meta/jobmeta.h"
#include "meta/metainfo.h"

static char root[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void put(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(rel, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_env.XXXXXX");
    assert_non_null(mkdtemp(root));
    put("lib/libfoo.so.1");
    put("lib/sub/libbar.so");
    put("lib/notalib.txt");
    put("plugins/mod.so"); /* not lib*: not a library directory */
    put("py/pkg/__init__.py");
    put("py/pkg/inner/__init__.py");
    put("py/pkg/_ext.cpython-311-x86_64-linux-gnu.so");
    put("venv/lib/python3/site-packages/x.py");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void build(bl_metainfo *mi, const bl_menv *env, size_t nenv)
{
    const char *dirs[] = {root};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .threads = 1, .env = env, .num_env = nenv};
    bl_buf b;
    bl_buf_init(&b);
    bl_err err;
    assert_int_equal(bl_create(&o, &b, NULL, &err), 0);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    assert_int_equal(bl_metainfo_parse(mi, raw, len, &err), 0);
}

static const char *get(char **v, size_t n, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (!strncmp(v[i], name, l) && v[i][l] == '=')
            return v[i] + l + 1;
    return NULL;
}

static void test_detected(void **state)
{
    (void)state;
    bl_metainfo mi;
    build(&mi, NULL, 0);
    unsetenv("LD_LIBRARY_PATH");
    setenv("PYTHONPATH", "/old", 1);
    char **v;
    size_t n;
    bl_err err;
    assert_int_equal(bl_launch_env(&mi, "/m/", NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(get(v, n, "LD_LIBRARY_PATH"), "/m/lib:/m/lib/sub");
    assert_string_equal(get(v, n, "PYTHONPATH"), "/m/py:/m/venv/lib/python3/site-packages:/old");
    bl_launch_env_free(v, n);
    /* overrides: replace, absolute, '.', drop */
    const char *ov[] = {"LD_LIBRARY_PATH=lib/sub:/abs/dir:.", "PYTHONPATH="};
    assert_int_equal(bl_launch_env(&mi, "/m", ov, 2, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(get(v, n, "LD_LIBRARY_PATH"), "/m/lib/sub:/abs/dir:/m");
    bl_launch_env_free(v, n);
    const char *bad[] = {"1X=lib"};
    assert_int_equal(bl_launch_env(&mi, "/m", bad, 1, &v, &n, &err), -1);
    assert_non_null(strstr(err.msg, "not a variable name"));
    unsetenv("PYTHONPATH");
    bl_metainfo_free(&mi);
}

static void test_recorded_and_rewrite(void **state)
{
    (void)state;
    char *pydirs[] = {"py", ""};
    char *extra[] = {"plugins"};
    bl_menv env[] = {{.name = "MYPLUGINS", .dirs = extra, .num_dirs = 1},
                     {.name = "PYTHONPATH", .dirs = pydirs, .num_dirs = 2}};
    bl_metainfo mi, plain;
    build(&mi, env, 2);
    build(&plain, NULL, 0);
    assert_memory_equal(mi.info_hash, plain.info_hash, 20); /* env is outside the info dict */
    assert_int_equal(mi.num_env, 2);
    char **v;
    size_t n;
    bl_err err;
    assert_int_equal(bl_launch_env(&mi, "/m", NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 2); /* recorded: no detected LD_LIBRARY_PATH */
    assert_string_equal(get(v, n, "MYPLUGINS"), "/m/plugins");
    assert_string_equal(get(v, n, "PYTHONPATH"), "/m/py:/m");
    bl_launch_env_free(v, n);

    /* a new tracker, same info dict byte for byte */
    const char *tb[8];
    bl_jobmeta j;
    bl_jobmeta_of(&mi, &j, tb, 8);
    const char *trk[] = {"http://10.0.0.1:7000/announce"};
    j.trackers = trk;
    j.num_trackers = 1;
    bl_buf b;
    bl_buf_init(&b);
    assert_int_equal(bl_jobmeta_rewrite(&mi, &j, &b, &err), 0);
    size_t len;
    uint8_t *raw = bl_buf_steal(&b, &len);
    bl_metainfo re;
    assert_int_equal(bl_metainfo_parse(&re, raw, len, &err), 0);
    assert_memory_equal(re.info_hash, mi.info_hash, 20);
    assert_int_equal(re.num_tiers, 1);
    assert_string_equal(re.tiers[0][0], trk[0]);
    assert_int_equal(re.num_env, 2);
    bl_metainfo_free(&re);
    bl_metainfo_free(&mi);
    bl_metainfo_free(&plain);

    /* a recorded directory that is not one is refused at create time */
    char *nodir[] = {"lib/libfoo.so.1"};
    bl_menv bad = {.name = "X", .dirs = nodir, .num_dirs = 1};
    const char *dirs[] = {root};
    bl_create_opts o = {.dirs = dirs, .num_dirs = 1, .threads = 1, .env = &bad, .num_env = 1};
    bl_buf_init(&b);
    assert_int_equal(bl_create(&o, &b, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not a directory of the set"));
    bl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recorded_and_rewrite, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
