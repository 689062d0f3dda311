
PREFIX ?= /usr/local
BUILD ?= build
CC ?= cc
NVCC ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCHS ?= 80 90
USE_OPENBLAS ?= auto
USE_DNNL ?= auto
USE_CUDA ?= auto
USE_CUDNN ?= auto
USE_CUSPARSELT ?= auto
USE_NCCL ?= auto
USE_CUTLASS ?= auto
WERROR ?= 0
SAN ?=
OPT ?= -O2

WARN = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
# Hidden visibility everywhere: libsparse24.so exports only what carries
# S24_API (include/sparse24/sparse24_api.h, default visibility where
# S24_BUILD is defined: the library's objects, LIB_OBJ below), so the
# internal s24_ functions of src/ stay out of its dynamic symbol table.
CFLAGS_BASE = -std=c11 $(OPT) -g -fPIC -fvisibility=hidden -fopenmp $(WARN) -Iinclude -Isrc \
              -Itools/sparse24 -D_GNU_SOURCE $(SAN)
LDLIBS_BASE = -fopenmp -lm -lpthread -ldl $(SAN)
# The commit goes into one generated file, rewritten only when it changes,
# so a new commit relinks instead of rebuilding everything.
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
COMMIT_SRC = $(BUILD)/gen/commit.c
$(shell mkdir -p $(BUILD)/gen; printf '/* generated */\n\043include "sparse24/sparse24.h"\nconst char *s24_version_commit(void) { return "%s"; }\n' '$(GIT_COMMIT)' > $(COMMIT_SRC).new; cmp -s $(COMMIT_SRC).new $(COMMIT_SRC) || mv $(COMMIT_SRC).new $(COMMIT_SRC); rm -f $(COMMIT_SRC).new)

# ---------------------------------------------------------------- probes
# probe NAME,FLAGS: compile and link scripts/probe/NAME.c; 1 if it works.
probe = $(shell $(CC) scripts/probe/$(1).c -o $(BUILD)/.probe_$(1) $(2) >/dev/null 2>&1 && echo 1 || echo 0)
# probe_h NAME,FLAGS: compile it only: for the libraries opened at run time
# (src/cuda/dl*.c*), whose headers the build needs but whose library it never
# links, so a machine with the headers builds them in without the library.
probe_h = $(shell $(CC) -c scripts/probe/$(1).c -o $(BUILD)/.probe_$(1).o $(2) >/dev/null 2>&1 && echo 1 || echo 0)
$(shell mkdir -p $(BUILD))
# required: cJSON (safetensors headers)
HAVE_CJSON := $(call probe,cjson,-lcjson)
ifneq ($(HAVE_CJSON),1)
$(error cJSON not found: run scripts/setup.sh (Debian package libcjson-dev))
endif
CFLAGS_BASE += -DS24_HAVE_CJSON=1
LDLIBS_BASE += -lcjson

# optional NAME,PROBE,FLAGS,WHAT[,probe_h]: USE_NAME=0|1|auto against the probe
define optional
ifeq ($$(USE_$(1)),0)
HAVE_$(1) := 0
else
HAVE_$(1) := $$(call $(if $(5),$(5),probe),$(2),$(3))
ifeq ($$(USE_$(1))$$(HAVE_$(1)),10)
$$(error USE_$(1)=1 but $(1) was not found ($(4)))
endif
endif
endef

$(eval $(call optional,OPENBLAS,openblas,-lopenblas,Debian package libopenblas-dev))
ifeq ($(HAVE_OPENBLAS),1)
CFLAGS_BASE += -DS24_HAVE_OPENBLAS=1
LDLIBS_BASE += -lopenblas
endif

# oneDNN (C API 2.x) for the CPU backend's dense convolutions; without it the
# im2col + sgemm path of src/cpu/nn_conv.c does them.
$(eval $(call optional,DNNL,dnnl,-ldnnl,Debian package libdnnl-dev with the oneDNN 2.x API))
ifeq ($(HAVE_DNNL),1)
CFLAGS_BASE += -DS24_HAVE_DNNL=1
LDLIBS_BASE += -ldnnl
endif

CUDA_INC = -I$(CUDA_HOME)/include
CUDA_LIBDIR = $(CUDA_HOME)/lib64
# The probe links the static runtime (what the build links) and compiles
# against cuBLASLt's header (the library is opened at run time).
CUDART_LIBS = -lcudart_static -lrt -ldl -lpthread
$(eval $(call optional,CUDA,cuda,$(CUDA_INC) -L$(CUDA_LIBDIR) $(CUDART_LIBS),CUDA toolkit with libcudart_static.a and the cuBLASLt header))
ifneq ($(HAVE_CUDA),1)
HAVE_CUDNN := 0
HAVE_CUSPARSELT := 0
HAVE_NCCL := 0
else
$(eval $(call optional,CUDNN,cudnn,$(CUDA_INC),the cuDNN 9 header,probe_h))
# cuSPARSELt: the PyPI wheel unpacked by scripts/setup.sh (.deps/cusparselt),
# a Python site-packages copy (nvidia/cusparselt or nvidia/cu13), or the system.
CUSPARSELT_DIR ?= $(firstword $(wildcard $(CURDIR)/.deps/cusparselt) \
   $(patsubst %/include/cusparseLt.h,%,$(wildcard $(shell python3 -c 'import site;print(" ".join(site.getsitepackages()))' 2>/dev/null | sed 's|\([^ ]*\)|\1/nvidia/cusparselt/include/cusparseLt.h \1/nvidia/cu13/include/cusparseLt.h|g'))))
ifneq ($(CUSPARSELT_DIR),)
CUSPARSELT_FLAGS = -I$(CUSPARSELT_DIR)/include -L$(CUSPARSELT_DIR)/lib -Wl,-rpath,$(CUSPARSELT_DIR)/lib
endif
# The wheel ships only libcusparseLt.so.0 (no unversioned name for -lcusparseLt).
CUSPARSELT_LIB = $(if $(wildcard $(CUSPARSELT_DIR)/lib/libcusparseLt.so),-lcusparseLt,$(if $(wildcard $(CUSPARSELT_DIR)/lib/libcusparseLt.so.0),-l:libcusparseLt.so.0,-lcusparseLt))
# cuSPARSELt < 0.8.1 has a C++-only header, so the probe compiles as C++.
HAVE_CUSPARSELT_PROBE = $(shell [ "$(USE_CUSPARSELT)" = 0 ] && echo 0 || { g++ scripts/probe/cusparselt.cpp -o $(BUILD)/.probe_splt $(CUDA_INC) $(CUSPARSELT_FLAGS) -L$(CUDA_LIBDIR) $(CUSPARSELT_LIB) $(CUDART_LIBS) >/dev/null 2>&1 && echo 1 || echo 0; })
HAVE_CUSPARSELT := $(HAVE_CUSPARSELT_PROBE)
ifeq ($(USE_CUSPARSELT)$(HAVE_CUSPARSELT),10)
$(error USE_CUSPARSELT=1 but cuSPARSELt was not found (run scripts/setup.sh or set CUSPARSELT_DIR))
endif
$(eval $(call optional,NCCL,nccl,$(CUDA_INC),the NCCL header,probe_h))
endif

NVCCFLAGS = -O2 -g -std=c++17 -Iinclude -Isrc $(CUDA_INC) -Xcompiler -fPIC,-Wall,-fvisibility=hidden \
            $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a))
ifeq ($(HAVE_CUDA),1)
CFLAGS_BASE += -DS24_HAVE_CUDA=1 $(CUDA_INC)
NVCCFLAGS += -DS24_HAVE_CUDA=1
# The CUDA runtime is linked statically (libcudart_static.a, which opens the
# driver's libcuda.so.1 itself at its first call), and no other GPU library
# is linked: a CUDA build starts on a machine with no driver and no toolkit.
# The RUNPATH to the toolkit's lib64 only lets dlopen find cuBLASLt, cuDNN
# and NCCL where the build found them (src/cuda/dl.c); elsewhere the loader
# path or the S24_*_LIB variables do.
LDLIBS_BASE += -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) $(CUDART_LIBS) -lstdc++
endif
ifeq ($(HAVE_CUDNN),1)
# cuBLASLt, cuDNN, cuSPARSELt and NCCL are found by the probes at build time
# (headers; cuSPARSELt's a test link too) but not linked: src/cuda/*dl*.c* open them at run
# time, so that a binary built with them starts where they are absent.
CFLAGS_BASE += -DS24_HAVE_CUDNN=1
NVCCFLAGS += -DS24_HAVE_CUDNN=1
endif
ifeq ($(HAVE_CUSPARSELT),1)
CFLAGS_BASE += -DS24_HAVE_CUSPARSELT=1
NVCCFLAGS += -DS24_HAVE_CUSPARSELT=1 -I$(CUSPARSELT_DIR)/include
endif
ifeq ($(HAVE_NCCL),1)
CFLAGS_BASE += -DS24_HAVE_NCCL=1
NVCCFLAGS += -DS24_HAVE_NCCL=1
endif
# CUTLASS's headers (scripts/setup.sh with S24_CUTLASS=1 puts them in
# .deps/cutlass): the own Hopper 2:4 GEMM, src/cuda/sm90/. Headers only, so
# the probe is their presence; with CUDA only.
CUTLASS_DIR ?= $(CURDIR)/.deps/cutlass
HAVE_CUTLASS := 0
ifneq ($(USE_CUTLASS),0)
ifeq ($(HAVE_CUDA),1)
HAVE_CUTLASS := $(if $(wildcard $(CUTLASS_DIR)/include/cutlass/gemm/collective/sm90_sparse_mma_tma_gmma_ss_warpspecialized.hpp),1,0)
endif
ifeq ($(USE_CUTLASS)$(HAVE_CUTLASS),10)
$(error USE_CUTLASS=1 but CUTLASS was not found (run S24_CUTLASS=1 scripts/setup.sh or set CUTLASS_DIR; needs CUDA))
endif
endif
# Where a binary run from $(BUILD) itself may find cuSPARSELt when the loader
# path has none (src/cuda/dl.c): a string, not an RPATH, and ignored by any
# copy that runs from elsewhere, so an installed sparse24 never reaches into
# the tree (.deps/ included).
PATHS_SRC = $(BUILD)/gen/build_paths.c
SPLT_FALLBACK = $(if $(filter 1,$(HAVE_CUSPARSELT)),$(CUSPARSELT_DIR)/lib/libcusparseLt.so.0)
$(shell printf '/* generated */\nconst char *s24_build_root(void);\nconst char *s24_build_root(void) { return "%s"; }\nconst char *s24_build_cusparselt(void);\nconst char *s24_build_cusparselt(void) { return "%s"; }\n' '$(abspath $(BUILD))' '$(SPLT_FALLBACK)' > $(PATHS_SRC).new; cmp -s $(PATHS_SRC).new $(PATHS_SRC) || mv $(PATHS_SRC).new $(PATHS_SRC); rm -f $(PATHS_SRC).new)
CFLAGS ?=
CFLAGS_ALL = $(CFLAGS_BASE) $(CFLAGS)

# ---------------------------------------------------------------- sources
# src/core, src/cpu, src/nn: plain C. Files ending _avx2.c / _avx512.c get
# those instruction sets (chosen at run time by the caller).
# src/cuda: *.cu need CUDA; cusparselt*.cu need cuSPARSELt, nccl*.cu NCCL;
# nocuda*.c stand in without CUDA, nocusparselt*.c without cuSPARSELt (and
# src/comm/comm_nonccl.c without NCCL); other *.c always build.
LIB_C = $(wildcard src/core/*.c src/cpu/*.c src/nn/*.c)
CUDA_C_ALWAYS = $(filter-out src/cuda/nocuda% src/cuda/nocusparselt% src/cuda/nosp90%,$(wildcard src/cuda/*.c))
ifeq ($(HAVE_CUDA),1)
LIB_CU = $(filter-out src/cuda/cusparselt% src/cuda/nccl%,$(wildcard src/cuda/*.cu))
ifeq ($(HAVE_CUSPARSELT),1)
LIB_CU += $(wildcard src/cuda/cusparselt*.cu)
else
LIB_C += $(wildcard src/cuda/nocusparselt*.c)
endif
else
LIB_C += $(wildcard src/cuda/nocuda*.c)
endif
# src/comm: plain C, but comm_nccl.cu needs NCCL; comm_nonccl.c stands in without it.
LIB_C += $(filter-out src/comm/comm_nonccl.c,$(wildcard src/comm/*.c))
LIB_C += $(if $(filter 1,$(HAVE_NCCL)),,src/comm/comm_nonccl.c)
LIB_CU += $(if $(filter 1,$(HAVE_NCCL)),src/comm/comm_nccl.cu $(wildcard src/cuda/nccl*.cu))
LIB_C += $(CUDA_C_ALWAYS)
# The own Hopper kernels: sp90_cfg.cu once per tile configuration (SP90_CFGS,
# its SP90_ENTRY list), for sm_90a only; nosp90.c stands in without them.
SP90_CFGS = 0 1 2 3 4 5 6 7 8 9 10 11 12 13
ifeq ($(HAVE_CUTLASS),1)
LIB_CU += src/cuda/sm90/sp90_plan.cu
SP90_OBJ = $(foreach i,$(SP90_CFGS),$(BUILD)/src/cuda/sm90/sp90_cfg_$(i).cu.o)
else
LIB_C += src/cuda/nosp90.c
SP90_OBJ =
endif
LIB_OBJ = $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.cu.o) $(BUILD)/gen/commit.o \
          $(BUILD)/gen/build_paths.o $(SP90_OBJ)
# The library's own objects (not the CLI's, the tests' or the fuzzers'):
# S24_API is default visibility there, so the public functions are exported.
LIB_DEFS = -DS24_BUILD
$(LIB_OBJ): CFLAGS_ALL += $(LIB_DEFS)
$(LIB_OBJ): NVCCFLAGS += $(LIB_DEFS)
CLI_C = $(wildcard tools/sparse24/*.c bench/*.c)
CLI_OBJ = $(CLI_C:%.c=$(BUILD)/%.o)
TEST_C = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_C:tests/%.c=$(BUILD)/tests/%)
GPU_TEST_C = $(wildcard tests/gpu/test_*.c)
GPU_TEST_BIN = $(GPU_TEST_C:tests/gpu/%.c=$(BUILD)/tests/gpu/%)

ISA_avx2 = -mavx2 -mfma -mf16c
ISA_avx512 = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c
isa_flags = $(if $(filter %_avx512.c,$(1)),$(ISA_avx512),$(if $(filter %_avx2.c,$(1)),$(ISA_avx2)))

LIBA = $(BUILD)/libsparse24.a
LIBSO = $(BUILD)/libsparse24.so
CLI = $(BUILD)/sparse24

.PHONY: all test test-gpu asan ubsan check lint install clean summary tests valgrind-cli
all: summary $(LIBA) $(LIBSO) $(CLI)

summary:
	@echo "sparse24 build: OpenBLAS=$(HAVE_OPENBLAS) oneDNN=$(HAVE_DNNL) CUDA=$(HAVE_CUDA) cuDNN=$(HAVE_CUDNN) cuSPARSELt=$(HAVE_CUSPARSELT)$(if $(filter 1,$(HAVE_CUSPARSELT)), ($(CUSPARSELT_DIR))) NCCL=$(HAVE_NCCL) CUTLASS=$(HAVE_CUTLASS) -> $(BUILD)/"

# Rebuild everything when the configuration changes.
CONFIG_STAMP = $(BUILD)/config.stamp
CONFIG_TEXT = $(CC) $(CFLAGS_ALL) | $(NVCCFLAGS) | $(LDLIBS_BASE) | $(LIB_DEFS)
$(shell mkdir -p $(BUILD); echo '$(CONFIG_TEXT)' | cmp -s - $(CONFIG_STAMP) || echo '$(CONFIG_TEXT)' > $(CONFIG_STAMP))

$(BUILD)/%.o: %.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call isa_flags,$<) -MMD -MP -c $< -o $@

$(BUILD)/gen/commit.o: $(COMMIT_SRC)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/gen/build_paths.o: $(PATHS_SRC)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/%.cu.o: %.cu $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

# CUTLASS's sm90 templates: sm_90a (wgmma) only, whatever CUDA_ARCHS says.
SP90_NVCCFLAGS = $(filter-out -gencode arch=compute_%,$(NVCCFLAGS)) -I$(CUTLASS_DIR)/include \
                 --expt-relaxed-constexpr -gencode arch=compute_90a,code=sm_90a
$(BUILD)/src/cuda/sm90/sp90_cfg_%.cu.o: src/cuda/sm90/sp90_cfg.cu $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(SP90_NVCCFLAGS) -DSP90_CFG=$* -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS_BASE)

$(CLI): $(CLI_OBJ) $(LIBA)
	$(CC) -o $@ $(CLI_OBJ) $(LIBA) $(LDLIBS_BASE)

$(BUILD)/tests/%: tests/%.c tests/t.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(LIBA) $(LDLIBS_BASE)

tests: $(TEST_BIN) $(CLI)

test: all tests
	@S24_CLI=$(CLI) S24_FIXTURES=tests/fixtures sh tests/run.sh $(TEST_BIN)

test-gpu: all $(GPU_TEST_BIN)
	@S24_CLI=$(CLI) sh tests/run.sh $(GPU_TEST_BIN)

# Sanitizer builds: CPU only, own build folder.
asan:
	$(MAKE) BUILD=build-asan USE_CUDA=0 OPT=-O1 SAN="-fsanitize=address -fno-omit-frame-pointer" test
ubsan:
	$(MAKE) BUILD=build-ubsan USE_CUDA=0 OPT=-O1 SAN="-fsanitize=undefined -fno-sanitize-recover=undefined" test

# The CLI under valgrind (scripts/valgrind_cli.sh): an uninstrumented CPU
# build of its own, since ASan and valgrind do not mix.
valgrind-cli:
	$(MAKE) BUILD=build-valgrind USE_CUDA=0 OPT=-O1 WERROR=1 all
	@sh scripts/valgrind_cli.sh build-valgrind/sparse24
# What CI runs (README's test command): strict build incl. CUDA sources,
# the tests, the lint (banned functions, S24_API on every public
# declaration, no line over 100 columns), the tests under ASan and UBSan,
# then the fuzz targets briefly from their seed corpora (mk/fuzz.mk), then
# the CLI on tiny inputs under valgrind.
check:
	@s=$$(date +%s); $(MAKE) WERROR=1 test && echo "--- test: $$(( $$(date +%s) - s )) s"
	@$(MAKE) lint
	@s=$$(date +%s); $(MAKE) WERROR=1 asan && echo "--- asan: $$(( $$(date +%s) - s )) s"
	@s=$$(date +%s); $(MAKE) WERROR=1 ubsan && echo "--- ubsan: $$(( $$(date +%s) - s )) s"
	@s=$$(date +%s); $(MAKE) fuzz-smoke && echo "--- fuzz-smoke: $$(( $$(date +%s) - s )) s"
	@s=$$(date +%s); $(MAKE) valgrind-cli && echo "--- valgrind-cli: $$(( $$(date +%s) - s )) s"

lint:
	@sh scripts/check_banned.sh
	@sh scripts/check_api.sh
	@sh scripts/check_lines.sh

# The installed pkg-config files name no folder of the source tree (its .deps/
# included): an install must keep working when the clone is moved or deleted.
# The GPU libraries are opened at run time (src/cuda/dl.c), so no link line
# names the tree; the warning below stays as a guard against one that does.
comma := ,
SRC_TREE = $(CURDIR) $(realpath $(CURDIR)/.deps)
in_tree = $(filter $(addsuffix /%,$(SRC_TREE)),$(patsubst -L%,%,$(patsubst -Wl$(comma)-rpath$(comma)%,%,$(1))))
PC_LIBS = $(foreach w,$(filter -l% -L% -Wl% -fopenmp,$(LDLIBS_BASE)),$(if $(call in_tree,$(w)),,$(w)))
PC_VERSION = $(shell sed -n 's/.*S24_VERSION_STRING "\(.*\)"/\1/p' include/sparse24/sparse24.h)
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(PC_VERSION)|' -e 's|@LIBS@|$(PC_LIBS)|'
TREE_LINKS = $(strip $(foreach w,$(LDLIBS_BASE),$(call in_tree,$(w))))

install: all
	install -d $(DESTDIR)$(PREFIX)/include/sparse24 $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/sparse24/*.h $(DESTDIR)$(PREFIX)/include/sparse24/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	$(PC_SED) scripts/sparse24.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sparse24.pc
	$(PC_SED) scripts/sparse24-static.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sparse24-static.pc
	$(if $(TREE_LINKS),@echo "warning: this build links libraries from the source tree ($(sort $(TREE_LINKS))): the installed sparse24 and libsparse24.so keep an RPATH there and need them at run time; a build with USE_CUSPARSELT=0 (or cuSPARSELt installed outside the tree, CUSPARSELT_DIR=...) stands alone" >&2)

clean:
	rm -rf build build-asan build-ubsan build-install build-fuzz build-valgrind

include mk/fuzz.mk
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
