/* cmd_prune.c: PLACEHOLDER until its owner lands the real command. */
#include "cli.h"

int cmd_prune(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not built yet");
}
