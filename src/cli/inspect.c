#include <stdio.h>
#include "cli/cli.h"
int cmd_inspect(int argc, char **argv) { (void)argc; (void)argv; fputs("bitlib inspect: under construction\n", stderr); return 1; }
