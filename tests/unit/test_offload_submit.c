/* Unit tests for what `bitlib offload submit` hands the scheduler
 * (offload/submit.h): the scheduler a program or script stands for, job
 * ids as sbatch --parsable and qsub print them, the stage-out command
 * lines, and the stage-out script, run by /bin/sh with printf standing in
 * for bitlib so the words it would get are checked, quotes and all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "offload/submit.h"

#define NOW 1700000000

static void test_sched(void **state)
{
    (void)state;
    assert_int_equal(bl_sched_of_program("sbatch"), BL_SCHED_SLURM);
    assert_int_equal(bl_sched_of_program("/opt/slurm/bin/sbatch"), BL_SCHED_SLURM);
    assert_int_equal(bl_sched_of_program("qsub"), BL_SCHED_PBS);
    assert_int_equal(bl_sched_of_program("srun"), BL_SCHED_NONE);
    assert_int_equal(bl_sched_of_program("sbatch2"), BL_SCHED_NONE);
    bl_directives d;
    bl_err e;
    const char *s = "#!/bin/sh\n#SBATCH -n 4\n#BITLIB InterNode h:1:1G\n";
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    assert_int_equal(bl_sched_of_script(&d), BL_SCHED_SLURM);
    bl_dir_free(&d);
    s = "#PBS -N x\n#SBATCH -n 4\n";
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    assert_int_equal(bl_sched_of_script(&d), BL_SCHED_NONE);   /* both: ask */
    bl_dir_free(&d);
    s = "echo hi\n";
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    assert_int_equal(bl_sched_of_script(&d), BL_SCHED_NONE);
    bl_dir_free(&d);
}

static void test_jobid(void **state)
{
    (void)state;
    char id[BL_SUBMIT_MAX_JOBID];
    bl_err e;
    assert_int_equal(bl_sched_jobid(BL_SCHED_SLURM, "1234\n", id, &e), 0);
    assert_string_equal(id, "1234");
    assert_int_equal(bl_sched_jobid(BL_SCHED_SLURM, "77;cluster2\n", id, &e), 0);
    assert_string_equal(id, "77");
    assert_int_equal(bl_sched_jobid(BL_SCHED_PBS, "  1700.pbs-server.example \n", id, &e), 0);
    assert_string_equal(id, "1700.pbs-server.example");
    assert_int_equal(bl_sched_jobid(BL_SCHED_PBS, "12[].srv\n", id, &e), 0);
    assert_int_equal(bl_sched_jobid(BL_SCHED_SLURM, "", id, &e), -1);
    assert_non_null(strstr(e.msg, "no job id"));
    assert_int_equal(bl_sched_jobid(BL_SCHED_SLURM, "Submitted batch job 5\n", id, &e), -1);
    assert_non_null(strstr(e.msg, "not a job id"));
    assert_int_equal(bl_sched_jobid(BL_SCHED_PBS, "12;rm -rf x\n", id, &e), -1);
    char big[300];
    memset(big, '7', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(bl_sched_jobid(BL_SCHED_SLURM, big, id, &e), -1);
    assert_non_null(strstr(e.msg, "at most"));
}

static void test_argv(void **state)
{
    (void)state;
    bl_argv a;
    bl_err e;
    const char *extra[] = {"--partition=io", "--account=proj"};
    assert_int_equal(bl_stageout_argv(BL_SCHED_SLURM, "sbatch", "42", "/w/o.log", extra, 2, "/w/o.stageout.sh", &a, &e), 0);
    const char *slurm[] = {"sbatch", "--parsable", "--job-name=offload-42", "--output=/w/o.log", "--ntasks=1",
                           "--dependency=afterany:42", "--partition=io", "--account=proj", "/w/o.stageout.sh",
                           NULL};
    for (size_t i = 0; i < sizeof slurm / sizeof slurm[0]; i++)
        if (slurm[i])
            assert_string_equal(a.argv[i], slurm[i]);
        else
            assert_null(a.argv[i]);
    bl_argv_free(&a);
    assert_int_equal(bl_stageout_argv(BL_SCHED_PBS, "/opt/pbs/bin/qsub", "1700.pbs-server", "/w/o.log", NULL, 0, "/w/s.sh", &a, &e), 0);
    const char *pbs[] = {"/opt/pbs/bin/qsub", "-N", "offload-1700.pb", "-j", "oe", "-o", "/w/o.log", "-W",
                         "depend=afterany:1700.pbs-server", "/w/s.sh", NULL};
    for (size_t i = 0; i < sizeof pbs / sizeof pbs[0]; i++)
        if (pbs[i])
            assert_string_equal(a.argv[i], pbs[i]);
        else
            assert_null(a.argv[i]);
    assert_true(strlen(a.argv[2]) <= 15);
    bl_argv_free(&a);
    /* more options than the array holds are refused, not cut */
    const char *many[BL_SUBMIT_MAX_STAGEOUT_ARGS + 1];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = "-x";
    assert_int_equal(bl_stageout_argv(BL_SCHED_SLURM, "sbatch", "42", "/w/o.log", many,
                                      BL_SUBMIT_MAX_STAGEOUT_ARGS + 1, "/w/s.sh", &a, &e), -1);
    assert_int_equal(bl_stageout_argv(BL_SCHED_SLURM, "sbatch", "42", "/w/o.log", many,
                                      BL_SUBMIT_MAX_STAGEOUT_ARGS, "/w/s.sh", &a, &e), 0);
    assert_string_equal(a.argv[6 + BL_SUBMIT_MAX_STAGEOUT_ARGS], "/w/s.sh");
    assert_null(a.argv[7 + BL_SUBMIT_MAX_STAGEOUT_ARGS]);
    bl_argv_free(&a);
}

/* the script run by sh, printf for bitlib: one argument a line */
static char *run_script(const char *script, const char *dir)
{
    char path[256], cmd[300];
    snprintf(path, sizeof path, "%s/stage.sh", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sh %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
    return out;
}

static void test_script(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_offload_submit.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char results[300], odd[300], f1[320], f2[320];
    snprintf(results, sizeof results, "%s/res dir", dir);       /* a blank */
    snprintf(odd, sizeof odd, "%s/it's $HOME", dir);           /* a quote and a dollar */
    assert_int_equal(mkdir(results, 0755), 0);
    snprintf(f1, sizeof f1, "%s/a.dat", results);
    snprintf(f2, sizeof f2, "%s/b.dat", results);
    fclose(fopen(f1, "w"));
    fclose(fopen(f2, "w"));
    fclose(fopen(odd, "w"));

    const char *s = "#SBATCH -n 1\n#BITLIB InterNode n1:27000:64M\n#BITLIB Landmark n2:27000\n"
                    "#BITLIB Deadline @1700003600\n#BITLIB PurgeDeadline @1700007200\n";
    bl_directives d;
    bl_err e;
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    const char *sources[] = {results, odd};
    bl_stageout_opts o = {.bitlib = "/usr/bin/printf", .keyfile = "/k/key", .manifest = "/m/run-42.manifest",
                          .sources = sources, .nsources = 2, .dest = "user's site", .dir = &d,
                          .k = 4, .m = 5, .replicas = 2, .timeout = 10, .chunk = 262144, .jobid = "42"};
    char *script = bl_stageout_script(&o, &e);
    assert_non_null(script);
    /* printf's format is "offload"; what follows is the words bitlib would get,
     * which printf drops: so print them with a format that takes them all */
    char *fmt = strstr(script, "' offload push");
    assert_non_null(fmt);
    char *patched;
    assert_true(asprintf(&patched, "%.*s' '%%s\\n' offload push%s", (int)(fmt - script), script,
                         fmt + strlen("' offload push")) > 0);
    char *out = run_script(patched, dir);
    char want[4096];
    snprintf(want, sizeof want,
             "offload\npush\n%s\n%s\n%s\n--manifest\n/m/run-42.manifest\n--key-file\n/k/key\n"
             "--depot\nn1:27000:67108864\n--depot\nn2:27000\n--rs\n4:5\n--chunk\n262144\n--replicas\n2\n"
             "--timeout\n10\n--deadline\n@1700003600\n--purge-deadline\n@1700007200\n"
             "bitlib offload: job 42's results are on the depots; to fetch them: bitlib offload pull "
             "/m/run-42.manifest --out user's site\n",
             f1, f2, odd);
    assert_string_equal(out, want);
    free(patched);
    free(script);

    /* --purge-deadline on the command line wins; no deadline: none passed */
    bl_dir_free(&d);
    s = "#BITLIB InterNode n1:27000:1G\n";
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    o.purge = 1700009999;
    o.nsources = 1;
    script = bl_stageout_script(&o, &e);
    assert_non_null(script);
    assert_non_null(strstr(script, "--purge-deadline @1700009999"));
    assert_null(strstr(script, "--deadline"));
    free(script);

    /* a line break cannot go into the script */
    o.manifest = "/m/a\nb";
    assert_null(bl_stageout_script(&o, &e));
    assert_non_null(strstr(e.msg, "line break"));
    bl_dir_free(&d);
    unlink(f1);
    unlink(f2);
    unlink(odd);
    rmdir(results);
    char path[256];
    snprintf(path, sizeof path, "%s/stage.sh", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched),
        cmocka_unit_test(test_jobid),
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
