/* cmd_bench.c: `sparse24 bench <what>`: routes to the benchmark programs in
 * bench/ (cpu: CPU sparse vs OpenBLAS GEMM; gemm: GPU cuSPARSELt vs cuBLASLt;
 * permute: channel-permutation search; train: a training step; infer: an
 * inference forward through the plan). */
#include "cli.h"

#include <string.h>

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: sparse24 bench {cpu|gemm|permute|train|infer} [options]\n"
                   "  cpu      2:4 sparse GEMM vs OpenBLAS sgemm on the CPU\n"
                   "  gemm     cuSPARSELt 2:4 vs cuBLASLt dense on the GPU\n"
                   "  permute  channel-permutation search strategies\n"
                   "  train    a whole training step per model (GPU or CPU)\n"
                   "  infer    an inference forward per model, batch, dtype and path\n"
                   "'sparse24 bench <what> --help' for options.\n"
                   "\n"
                   "exit codes: 0 success, 1 runtime failure, 2 bad usage\n");
        return argc < 2 ? S24_EXIT_USAGE : S24_EXIT_OK;
    }
    if (!strcmp(argv[1], "cpu")) return bench_cpu_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gemm")) return bench_gemm_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "permute")) return bench_permute_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return bench_train_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "infer")) return bench_infer_main(argc - 1, argv + 1);
    return cli_usage("bench", "unknown benchmark '%s'", argv[1]);
}
