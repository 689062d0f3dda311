/* bench_permute.c: PLACEHOLDER until its owner lands the real command. */
#include "cli.h"

int bench_permute_main(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not built yet");
}
