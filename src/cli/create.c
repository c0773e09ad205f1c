#include <stdio.h>
#include "cli/cli.h"
int cmd_create(int argc, char **argv) { (void)argc; (void)argv; fputs("bitlib create: under construction\n", stderr); return 1; }
