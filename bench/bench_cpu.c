/* bench_cpu.c: PLACEHOLDER until its owner lands the real command. */
#include "cli.h"

int bench_cpu_main(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not built yet");
}
