# fuzz.mk: the libFuzzer targets in fuzz/ (included by build.mk). `make
# fuzz-smoke` builds them in build-fuzz/ with clang, libFuzzer, ASan and
# UBSan, then runs each briefly from its committed seed corpus
# (scripts/fuzz_smoke.sh); `make fuzz` only builds them. Targets that reach
# CLI code link the CLI's objects from an archive, main.c compiled with its
# main() renamed, since libFuzzer brings its own.

FUZZ_TARGETS = safetensors npy cifar decompress cli_values
FUZZ_DIR = $(BUILD)/fuzz
FUZZ_BIN = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_CLI_A = $(FUZZ_DIR)/libcli.a
FUZZ_SAN = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
           -fno-omit-frame-pointer
FUZZ_MAKE = $(MAKE) BUILD=build-fuzz CC=clang USE_CUDA=0 USE_DNNL=0 OPT=-O1 SAN="$(FUZZ_SAN)"

.PHONY: fuzz fuzz-bins fuzz-smoke
fuzz:
	@$(FUZZ_MAKE) fuzz-bins
fuzz-smoke: fuzz
	@sh scripts/fuzz_smoke.sh build-fuzz/fuzz
fuzz-bins: $(FUZZ_BIN)
.SECONDARY: $(FUZZ_BIN:%=%.o) $(FUZZ_EXTRA_cli_values)

$(FUZZ_DIR)/cli_main.o: tools/sparse24/main.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Dmain=s24_cli_main -c $< -o $@
$(FUZZ_CLI_A): $(filter-out $(BUILD)/tools/sparse24/main.o,$(CLI_OBJ)) $(FUZZ_DIR)/cli_main.o
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_DIR)/%.o: fuzz/%.c fuzz/fuzz_util.h $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ifuzz -MMD -MP -c $< -o $@
# the bench copies come first, so the archive's own bench objects stay out
FUZZ_EXTRA_cli_values = $(FUZZ_DIR)/cli_values_bench_cpu.o $(FUZZ_DIR)/cli_values_bench_gemm.o
.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/fuzz_%.o $$(FUZZ_EXTRA_$$*) $(FUZZ_CLI_A) $(LIBA)
	$(CC) -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_$*) $(FUZZ_CLI_A) $(LIBA) $(LDLIBS_BASE)
-include $(wildcard $(FUZZ_DIR)/*.d)
