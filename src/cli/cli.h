/* cli: the subcommand table and what every subcommand shares.
 * Exit codes: 0 success, 1 failure of the operation, 2 bad usage. */
#ifndef BL_CLI_CLI_H
#define BL_CLI_CLI_H

#include <stdbool.h>

#include "core/version.h"

struct bl_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

int cmd_create(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_tracker(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* True if argv has -h/--help before a "--". */
bool cli_wants_help(int argc, char **argv);

#endif
