/* Unit tests for job-script offload directives (offload/directive.h): the
 * paper's Figure 4 script, the #BITLIB forms among #PBS and #SBATCH lines,
 * what is kept for the scheduler, and every malformed form with the line
 * and column it is reported at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "offload/directive.h"

#define NOW 1700000000

static void test_paper_script(void **state)
{
    (void)state;
    const char *s = "#PBS -N myjob\n"
                    "#PBS -l nodes=128, walltime=12:00\n"
                    "mpirun -np 128 ~/MyComputation\n"
                    "#Stageout Output DestinationSite\n"
                    "#InterNode node1.Site1:49665:50GB\n"
                    "#InterNode nodeN.SiteN:49665:30GB\n"
                    "#Deadline 1/14/2007:12:00\n";
    bl_directives d;
    bl_err e;
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    assert_true(d.pbs);
    assert_false(d.slurm);
    assert_int_equal(d.directives, 4);
    assert_int_equal(d.nstageout, 1);
    assert_string_equal(d.stageout[0].source, "Output");
    assert_string_equal(d.stageout[0].dest, "DestinationSite");
    assert_int_equal(d.stageout[0].line, 4);
    assert_int_equal(d.nnodes, 2);
    assert_string_equal(d.node[0].addr, "node1.Site1:49665");
    assert_int_equal(d.node[0].capacity, 50ull << 30);
    assert_int_equal(d.node[1].capacity, 30ull << 30);
    assert_false(d.node[0].landmark);
    assert_int_equal(d.node[1].line, 6);
    assert_true(d.deadline == 1168776000.0);   /* 2007-01-14T12:00:00Z */
    assert_true(d.purge == 0);
    assert_string_equal(d.rest, "#PBS -N myjob\n#PBS -l nodes=128, walltime=12:00\nmpirun -np 128 ~/MyComputation\n");
    bl_dir_free(&d);
}

static void test_bitlib_forms(void **state)
{
    (void)state;
    const char *s = "#!/bin/bash\r\n"
                    "#SBATCH -N 4\r\n"
                    "#BITLIB InterNode [::1]:27000:1T\r\n"
                    "#bitlib   landmark lm.example:27001\r\n"
                    "#BITLIB\tLandmark lm2:27002:64M\n"
                    "#BITLIB PurgeDeadline +3600\n"
                    "#deadline 2h\n"
                    "# Stageout is only a comment\n"
                    "#Stageouts are not ours either\n"
                    "#BITLIBX something else\n"
                    "srun ./app";
    bl_directives d;
    bl_err e;
    assert_int_equal(bl_dir_parse(s, strlen(s), NOW, &d, &e), 0);
    assert_true(d.slurm);
    assert_false(d.pbs);
    assert_int_equal(d.directives, 5);
    assert_int_equal(d.nnodes, 3);
    assert_string_equal(d.node[0].addr, "[::1]:27000");
    assert_int_equal(d.node[0].capacity, 1ull << 40);
    assert_true(d.node[1].landmark);
    assert_int_equal(d.node[1].capacity, 0);
    assert_string_equal(d.node[2].addr, "lm2:27002");
    assert_true(d.purge == NOW + 3600.0);
    assert_true(d.deadline == NOW + 7200.0);
    assert_string_equal(d.rest, "#!/bin/bash\r\n#SBATCH -N 4\r\n# Stageout is only a comment\n"
                                "#Stageouts are not ours either\n#BITLIBX something else\nsrun ./app");
    bl_dir_free(&d);

    assert_int_equal(bl_dir_parse("", 0, NOW, &d, &e), 0);
    assert_int_equal(d.directives, 0);
    assert_int_equal(d.rest_len, 0);
    bl_dir_free(&d);
}

/* script -> "line L, column C: ..." containing want */
static void bad(const char *script, size_t len, const char *where, const char *want)
{
    bl_directives d;
    bl_err e;
    assert_int_equal(bl_dir_parse(script, len, NOW, &d, &e), -1);
    if (strncmp(e.msg, where, strlen(where)) || !strstr(e.msg, want))
        fail_msg("'%s': got '%s', want '%s...%s'", script, e.msg, where, want);
    assert_null(d.rest);
    assert_int_equal(d.nnodes, 0);
}

static void test_malformed(void **state)
{
    (void)state;
#define BAD(s, w, m) bad(s, strlen(s), w, m)
    BAD("#InterNode n1:1\n", "line 1, column 12:", "needs HOST:PORT:SIZE");
    BAD("#InterNode n1\n", "line 1, column 12:", "expected HOST:PORT:SIZE");
    BAD("#InterNode :80:5G\n", "line 1, column 12:", "expected HOST:PORT");
    BAD("#InterNode n1:0:5G\n", "line 1, column 15:", "port '0'");
    BAD("#InterNode n1:99999:5G\n", "line 1, column 15:", "port '99999'");
    BAD("#InterNode n1:8x:5G\n", "line 1, column 15:", "port '8x'");
    BAD("#InterNode n1:-1:5G\n", "line 1, column 15:", "port '-1'");
    BAD("#InterNode n1:80:0\n", "line 1, column 18:", "0 bytes");
    BAD("#InterNode n1:80:5Q\n", "line 1, column 18:", "size '5Q'");
    BAD("#InterNode [::1:80:5G\n", "line 1, column 12:", "closing ']'");
    BAD("#InterNode\n", "line 1, column 11:", "InterNode needs HOST:PORT:SIZE");
    BAD("#InterNode n1:80:5G extra\n", "line 1, column 21:", "one too many");
    BAD("#InterNode n1:80:5G\n#Landmark n1:80\n", "line 2, column 11:", "named already on line 1");
    BAD("#Landmark lm\n", "line 1, column 11:", "expected HOST:PORT[:SIZE]");
    BAD("#Stageout a\n", "line 1, column 12:", "Stageout needs SOURCE and DEST");
    BAD("#Stageout a b c\n", "line 1, column 15:", "'c' is one too many");
    BAD("#Deadline\n", "line 1, column 10:", "Deadline needs a time");
    BAD("#Deadline tomorrow\n", "line 1, column 11:", "time 'tomorrow'");
    BAD("#Deadline 13/45/2007:12:00\n", "line 1, column 11:", "M/D/YYYY:HH:MM");
    BAD("#Deadline +1h\n#Deadline +2h\n", "line 2, column 2:", "a second Deadline");
    BAD("#PurgeDeadline 1h\n#BITLIB PurgeDeadline 2h\n", "line 2, column 9:", "a second PurgeDeadline");
    BAD("#Deadline @-5\n", "line 1, column 11:", "before 1970");
    BAD("#SBATCH -N 2\n#BITLIB\n", "line 2, column 8:", "#BITLIB needs a directive");
    BAD("#BITLIB   Frobnicate x\n", "line 1, column 11:", "'Frobnicate' is not an offload directive");
    bad("ok\n#PBS\0x\n", 8, "line 2, column 5:", "NUL byte");
    char longline[BL_DIR_MAX_LINE + 20];
    memset(longline, 'x', sizeof longline);
    longline[sizeof longline - 1] = '\n';
    bad(longline, sizeof longline, "line 1, column 4097:", "longer than");
    char many[BL_DIR_MAX_NODES * 40 + 100];
    size_t n = 0;
    for (int i = 0; i <= BL_DIR_MAX_NODES; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "#InterNode n%d:80:1G\n", i);
    bad(many, n, "line 65, column 2:", "more than 64");
    bl_directives d;
    bl_err e;
    assert_int_equal(bl_dir_parse("x", BL_DIR_MAX_SCRIPT + 1, NOW, &d, &e), -1);
    assert_non_null(strstr(e.msg, "at most"));
}

static void test_parse_node(void **state)
{
    (void)state;
    bl_dir_node n;
    bl_err e;
    assert_int_equal(bl_dir_parse_node("h.example:27000:2G", false, &n, &e), 0);
    assert_string_equal(n.addr, "h.example:27000");
    assert_int_equal(n.capacity, 2ull << 30);
    assert_int_equal(n.line, 0);
    assert_int_equal(bl_dir_parse_node("h:27000", false, &n, &e), 0);
    assert_int_equal(n.capacity, 0);
    assert_int_equal(bl_dir_parse_node("h:27000", true, &n, &e), -1);
    assert_null(strstr(e.msg, "line"));   /* no position on a command line */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_script), cmocka_unit_test(test_bitlib_forms),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_parse_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
