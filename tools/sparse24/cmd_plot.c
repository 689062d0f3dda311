/* cmd_plot.c: PLACEHOLDER until its owner lands the real command. */
#include "cli.h"

int cmd_plot(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not built yet");
}
