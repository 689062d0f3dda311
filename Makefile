# sparse24 build. `make` builds libsparse24 (static + shared) and the CLI;
# `make test` runs the CPU tests; `make test-gpu` the GPU tests (on a GPU);
# `make asan` / `make ubsan` run the tests under sanitizers (no CUDA);
# `make fuzz-smoke` builds and briefly runs the libFuzzer targets (clang);
# `make valgrind-cli` runs the CLI on tiny inputs under valgrind;
# `make check` is what CI runs; `make install PREFIX=...`.
# Optional parts: USE_OPENBLAS, USE_CUDA, USE_CUDNN, USE_CUSPARSELT, USE_NCCL,
# each auto (probe by compiling and linking a stub), 0 (off) or 1 (required).
#
# The rules live in mk/build.mk. This wrapper takes a lock on the build folder
# first, so several makes started at once in one checkout (several people or
# scripts) queue instead of overwriting each other's objects.

ifeq ($(S24_LOCKED),)
S24_GOALS := $(or $(MAKECMDGOALS),all)
.PHONY: $(S24_GOALS)
$(firstword $(S24_GOALS)):
	@mkdir -p $(or $(BUILD),build) && flock $(or $(BUILD),build)/.lock \
	    $(MAKE) --no-print-directory S24_LOCKED=1 $(S24_GOALS)
$(filter-out $(firstword $(S24_GOALS)),$(S24_GOALS)):
	@:
else
include mk/build.mk
endif
