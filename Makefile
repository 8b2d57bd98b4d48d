# lrtransfer — `make` builds the program, `make test` runs the tests,
# `make bench` prints speed figures, `make reference` regenerates data/reference/,
# `make sanitize` runs the file readers' tests and their fuzzing (tests/test_fuzz.cpp)
# under AddressSanitizer and UBSan (a separate CPU-only build in build/sanitize/,
# several minutes on 2 cores; any sanitizer report fails it),
# `make docs` regenerates docs/cli.md (every command's --help),
# `make clean` removes build outputs.
#
# Knobs: NO_OMP=1 (single-threaded build), OPT="-O2" (override -O3 -march=native),
#        NVCC=/path/to/nvcc (CUDA compiler; found automatically when on PATH
#        or in /usr/local/cuda/bin; NVCC= builds without CUDA),
#        CUDA_ARCH="-gencode ..." (the GPUs to compile for),
#        CUDA_HOME=... CUDA_LIB=... (the toolkit and its libraries; by default
#        what nvcc itself reports).

CXX      ?= g++
OPT      ?= -O3 -march=native
CXXFLAGS := -std=c++17 $(OPT) -Wall -Wextra -MMD -MP
LDLIBS   := -lm

# --- OpenMP: on when the compiler supports it, off with NO_OMP=1 -------------
ifeq ($(NO_OMP),1)
  OMP_FLAGS := -Wno-unknown-pragmas
  OMP_STATE := off (NO_OMP=1)
else
  OMP_OK := $(shell echo 'int main(){return 0;}' | $(CXX) -fopenmp -x c++ - -o /dev/null 2>/dev/null && echo yes)
  ifeq ($(OMP_OK),yes)
    OMP_FLAGS := -fopenmp
    OMP_STATE := on
  else
    OMP_FLAGS := -Wno-unknown-pragmas
    OMP_STATE := off (compiler lacks -fopenmp)
  endif
endif
CXXFLAGS += $(OMP_FLAGS)
LDFLAGS  += $(OMP_FLAGS)

# --- CUDA: compiled whenever nvcc exists (a GPU is only needed to run it) ---
# With nvcc, cuda/*.cu join the library and the program links cuBLAS and the
# CUDA runtime; `--device cuda` then works wherever a GPU is present and says
# clearly why not elsewhere. Without nvcc, cuda/no_cuda.cpp stands in.
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_SRC := $(wildcard cuda/*.cu cuda/*/*.cu)
# SASS for Hopper (H100/H200), PTX for any GPU from Ampere (sm_80) on.
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80
CXXFLAGS += -Icuda
# Where nvcc's toolkit lives: nvcc itself says (its --dryrun prints TOP=...),
# so a wrapper script on PATH (/usr/local/bin/nvcc -> exec .../cuda-13.0/bin/nvcc)
# still finds the right include/ and lib64/. (A CUDA_HOME in the environment
# is not trusted for this; `make CUDA_HOME=... CUDA_LIB=...` overrides.)
ifneq ($(NVCC),)
 ifneq ($(origin CUDA_HOME),command line)
  CUDA_HOME := $(shell top=$$($(NVCC) --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^\#\$$ TOP=//p' | head -n 1); \
    [ -n "$$top" ] || { p=$$(command -v $(NVCC)) && top=$$(dirname "$$(readlink -f "$$p")")/..; }; \
    [ -n "$$top" ] && cd "$$top" 2>/dev/null && pwd -P)
 endif
 ifneq ($(origin CUDA_LIB),command line)
  CUDA_LIB  := $(firstword $(foreach d,lib64 targets/x86_64-linux/lib targets/sbsa-linux/lib lib,$(if $(wildcard $(CUDA_HOME)/$(d)/libcudart.so),$(CUDA_HOME)/$(d))))
 endif
  CUDA_LDLIBS := -L$(CUDA_LIB) -Wl,-rpath,$(CUDA_LIB) -lcublas -lcudart
endif
# A found nvcc is used only if it builds a kernel for CUDA_ARCH and the program
# links cuBLAS the way the real build does ($(CXX) with CUDA_LDLIBS): an old
# toolkit, or one without cuBLAS, must not break the CPU build.
# The answer is kept in build/cuda_probe until `make clean`.
ifneq ($(NVCC),)
  CUDA_PROBE := ok $(NVCC) $(CUDA_ARCH) $(CXX) $(CUDA_LDLIBS)
  CUDA_USABLE := $(shell mkdir -p build; \
    if [ "$$(cat build/cuda_probe 2>/dev/null)" = "$(CUDA_PROBE)" ]; then echo yes; \
    else printf '#include <cublas_v2.h>\n__global__ void k() {}\nint main() { cublasHandle_t h; k<<<1, 1>>>(); return cublasCreate(&h) == CUBLAS_STATUS_SUCCESS ? 0 : 1; }\n' > build/cuda_probe.cu && \
      { [ -n "$(CUDA_LIB)" ] || { echo "no libcudart.so under CUDA_HOME=$(CUDA_HOME)"; false; }; } > build/cuda_probe.log 2>&1 && \
      $(NVCC) $(CUDA_ARCH) -c build/cuda_probe.cu -o build/cuda_probe.o >> build/cuda_probe.log 2>&1 && \
      $(CXX) build/cuda_probe.o -o build/cuda_probe.out $(CUDA_LDLIBS) >> build/cuda_probe.log 2>&1 && \
      echo "$(CUDA_PROBE)" > build/cuda_probe && echo yes; fi)
  ifneq ($(CUDA_USABLE),yes)
    $(info cuda: $(NVCC) cannot build for CUDA_ARCH or link cuBLAS with $(CXX) (see build/cuda_probe.log); building without the CUDA path)
    override NVCC :=
  endif
endif

# --- sources ------------------------------------------------------------------
LIB_SRC   := $(wildcard src/*/*.cpp) cuda/options.cpp
TEST_SRC  := $(wildcard tests/*.cpp)
BENCH_SRC := $(wildcard bench/*.cpp)
ifeq ($(NVCC),)
  LIB_SRC   += cuda/no_cuda.cpp
  BENCH_SRC := $(filter-out bench/bench_gpu.cpp,$(BENCH_SRC))
  CUDA_OBJ  :=
else
  CUDA_OBJ  := $(CUDA_SRC:%.cu=build/%.o)
  CXXFLAGS  += -I$(CUDA_HOME)/include
  LDLIBS    += $(CUDA_LDLIBS)
  TEST_SRC  += $(wildcard tests/cuda/*.cpp)
endif
LIB_OBJ   := $(LIB_SRC:%.cpp=build/%.o) $(CUDA_OBJ)
TEST_OBJ  := $(TEST_SRC:%.cpp=build/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.cpp=build/%)

PROGRAM := lrt

.PHONY: all test bench clean catch2 cuda info reference reproduce-quick reproduce reproduce-batch reproduce-lora sanitize docs
all: $(PROGRAM) cuda

$(PROGRAM): build/src/main.o build/liblrt.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# build/mode names the CUDA choice, so switching it (NVCC=...) rebuilds the
# library with the right objects (cuda/*.o or cuda/no_cuda.o)
BUILD_MODE := nvcc=$(NVCC)
$(shell mkdir -p build; [ "$$(cat build/mode 2>/dev/null)" = "$(BUILD_MODE)" ] || echo "$(BUILD_MODE)" > build/mode)
build/liblrt.a: $(LIB_OBJ) build/mode
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

build/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Isrc -c $< -o $@

# AdamW rounds every operation on its own (PyTorch's arithmetic), on both
# devices: no fused multiply-adds (optimizer.cpp also says so in a pragma,
# which only g++ reads)
build/src/optim/optimizer.o: CXXFLAGS += -ffp-contract=off
build/src/optim/sgd.o: CXXFLAGS += -ffp-contract=off
NVCC_FLAGS := -O3 -std=c++17 $(CUDA_ARCH) -Isrc -Icuda -MMD -MP --compiler-options -Wall,-Wextra
build/cuda/optim/optimizer.o: NVCC_FLAGS += -fmad=false
build/cuda/optim/sgd.o: NVCC_FLAGS += -fmad=false
build/cuda/%.o: cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

# Test objects need Catch2; tests/ensure_catch2.sh installs it or says how.
$(TEST_OBJ): | catch2
catch2:
	@sh tests/ensure_catch2.sh

build/test_lrt: $(TEST_OBJ) build/liblrt.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The tests also run ./lrt as a user would (bad input, end-to-end runs).
# Then the GPU tests (tests/cuda/) once more, against the CUDA code compiled
# for the CPU emulation in tests/emu/ (every machine; a real GPU is tested by
# the first run where there is one).
# What the tests need is built in parallel, one job per core (JOBS=1 for a
# serial build; a `make -jN test` shares its own jobs), then they run.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test:
	@$(MAKE) --no-print-directory -j$(JOBS) $(PROGRAM) build/test_lrt build/emu/test_lrt build/emu/lrt
	./build/test_lrt $(TEST_ARGS)
	LRT_BIN=build/emu/lrt ./build/emu/test_lrt "[cuda]"

# --- the CUDA code on the CPU emulation (tests/emu/cuda_emulation.h) --------
# Each cuda/*.cu is copied with its launches rewritten, k<<<g, b>>>(args) ->
# EMU_LAUNCH(k, g, b)(args), and compiled by g++ against tests/emu/include/,
# which stands in for the CUDA headers. (So a launch's k<<<g, b>>>( must stay
# on one line; a missed one fails to compile here.)
EMU_CUDA_OBJ := $(CUDA_SRC:cuda/%.cu=build/emu/cuda/%.o)
EMU_LIB_OBJ  := $(filter-out build/cuda/%,$(LIB_OBJ)) build/cuda/options.o $(EMU_CUDA_OBJ) build/tests/emu/cuda_emulation.o
EMU_FLAGS    := -Itests/emu/include -Itests/emu -Icuda -Isrc
build/emu/cuda/%.cpp: cuda/%.cu
	@mkdir -p $(dir $@)
	sed -E 's/([A-Za-z_][A-Za-z_0-9]*)<<<(.*)>>>\(/EMU_LAUNCH(\1, \2)(/' $< > $@
build/emu/cuda/%.o: build/emu/cuda/%.cpp
	$(CXX) $(EMU_FLAGS) $(CXXFLAGS) -Wno-unused-parameter -c $< -o $@
build/emu/cuda/optim/optimizer.o: CXXFLAGS += -ffp-contract=off
build/emu/cuda/optim/sgd.o: CXXFLAGS += -ffp-contract=off
build/tests/emu/%.o: tests/emu/%.cpp | catch2
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(CXXFLAGS) -c $< -o $@
.SECONDARY: $(CUDA_SRC:cuda/%.cu=build/emu/cuda/%.cpp)
build/emu/liblrt.a: $(EMU_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/emu/lrt: build/src/main.o build/emu/liblrt.a
	$(CXX) $(LDFLAGS) -o $@ $^ -lm
EMU_TEST_OBJ := $(patsubst %.cpp,build/%.o,$(wildcard tests/cuda/*.cpp))
$(EMU_TEST_OBJ): | catch2
build/emu/test_lrt: build/tests/test_main.o $(EMU_TEST_OBJ) build/tests/emu/test_emulation.o build/emu/liblrt.a
	$(CXX) $(LDFLAGS) -o $@ $^ -lm

# --- make sanitize: the readers under AddressSanitizer + UBSan ----------------
# The library and the test binary again, instrumented, in build/sanitize/ (its
# own object tree, so the normal build/ objects stay as they are). CPU only:
# the CUDA code is not instrumented (cuda/no_cuda.cpp stands in, as in a build
# without nvcc); OpenMP stays on, as in the real program. -O1 keeps the
# stacks readable and the run bearable. GCC leaves float-cast-overflow out of
# -fsanitize=undefined, so it is named too: the fuzzer writes 1e308 into
# fields that readers convert to integers, and that conversion is undefined.
# The run: the fuzz tests ([fuzz]) and the readers' own tests (SAN_TESTS),
# mostly without those tagged [cli] (they run ./lrt, which is not
# instrumented; a few untagged ones do too, so ./lrt is built). Leaks are checked (libgomp's
# thread pool reports none with this toolchain). max_allocation_size_mb makes
# ASan report, with its stack, any single allocation over 256 MB (a corrupt
# size field believed; test_fuzz.cpp's own guard does this in the normal
# build). Every sanitizer report ends the run with a failure.
SAN_DIR      := build/sanitize
SAN_FLAGS    := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -g -O1
SAN_CXXFLAGS := -std=c++17 $(SAN_FLAGS) -Wall -Wextra -MMD -MP $(OMP_FLAGS) -Icuda -Isrc
SAN_LIB_OBJ  := $(patsubst %.cpp,$(SAN_DIR)/%.o,$(wildcard src/*/*.cpp) cuda/options.cpp cuda/no_cuda.cpp)
SAN_TEST_OBJ := $(patsubst %.cpp,$(SAN_DIR)/%.o,$(wildcard tests/*.cpp))
SAN_TESTS    ?= [fuzz],[safetensors],[json],[data],[readers]~[cli],[safety]~[cli],[checkpoint]~[cli],[reference]~[cli],[sweep]~[cli]
SAN_ENV      := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:max_allocation_size_mb=256:allocator_may_return_null=0 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
$(SAN_DIR)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(SAN_CXXFLAGS) -c $< -o $@
$(SAN_DIR)/src/optim/optimizer.o: SAN_CXXFLAGS += -ffp-contract=off
$(SAN_DIR)/src/optim/sgd.o: SAN_CXXFLAGS += -ffp-contract=off
$(SAN_TEST_OBJ): | catch2
$(SAN_DIR)/liblrt.a: $(SAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(SAN_DIR)/test_lrt: $(SAN_TEST_OBJ) $(SAN_DIR)/liblrt.a
	$(CXX) $(SAN_FLAGS) $(OMP_FLAGS) -o $@ $^ -lm
sanitize: $(SAN_DIR)/test_lrt $(PROGRAM)
	$(SAN_ENV) ./$(SAN_DIR)/test_lrt "$(SAN_TESTS)"

build/bench_%: bench/bench_%.cpp build/liblrt.a
	@mkdir -p build
	$(CXX) $(CXXFLAGS) -Isrc -o $@ $^ $(LDFLAGS) $(LDLIBS)

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; ./$$b || exit 1; done

# `make cuda` compiles the CUDA sources alone (a quick check of the GPU code).
ifeq ($(NVCC),)
cuda:
	@echo "cuda: no usable nvcc; the CUDA path is not built (cuda/no_cuda.cpp stands in; the CPU build is complete)"
else
cuda: $(CUDA_OBJ)
endif

# The experiments (EXPERIMENTS.md): reproduce-quick, the paper's figures on
# the built-in corpus (~6 min on 2 cores); reproduce, the horizon experiment
# (experiments/horizon.sh, 2h26m as run, resumable); reproduce-batch, batch
# size, Adam's eps and the noise scale (experiments/batch.sh, resumable);
# reproduce-lora, LoRA+'s ratio across widths and LoRA-GA (experiments/lora.sh,
# resumable).
reproduce-quick: $(PROGRAM)
	sh experiments/reproduce.sh quick
reproduce: $(PROGRAM)
	sh experiments/horizon.sh
reproduce-batch: $(PROGRAM)
	sh experiments/batch.sh
reproduce-lora: $(PROGRAM)
	sh experiments/lora.sh

# The committed reference states in data/reference/ (see docs/reference-states.md).
reference: $(PROGRAM)
	sh data/reference/regenerate.sh

# docs/cli.md: every command and flag, from the program's own --help
# (tests/test_clidoc.cpp fails when they differ).
docs: docs/cli.md
docs/cli.md: $(PROGRAM) docs/gen_cli.sh
	sh docs/gen_cli.sh ./$(PROGRAM) > $@.tmp || { rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

info:
	@echo "CXX=$(CXX)  OpenMP: $(OMP_STATE)  NVCC=$(or $(NVCC),none)  CUDA_ARCH=$(CUDA_ARCH)"
	@echo "CUDA_HOME=$(or $(CUDA_HOME),none)  CUDA_LIB=$(or $(CUDA_LIB),none)"

clean:
	rm -rf build $(PROGRAM)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) build/src/main.d $(EMU_CUDA_OBJ:.o=.d) $(EMU_TEST_OBJ:.o=.d)
-include $(SAN_LIB_OBJ:.o=.d) $(SAN_TEST_OBJ:.o=.d)
