# lrtransfer — `make` builds the program, `make test` runs the tests,
# `make bench` prints speed figures, `make reference` regenerates data/reference/,
# `make clean` removes build outputs.
#
# Knobs: NO_OMP=1 (single-threaded build), OPT="-O2" (override -O3 -march=native),
#        NVCC=/path/to/nvcc (CUDA compiler; found automatically when on PATH
#        or in /usr/local/cuda/bin).

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
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_SRC := $(wildcard cuda/*.cu)

# --- sources ------------------------------------------------------------------
LIB_SRC   := $(filter-out src/main.cpp,$(wildcard src/*.cpp))
LIB_OBJ   := $(LIB_SRC:%.cpp=build/%.o)
TEST_SRC  := $(wildcard tests/*.cpp)
TEST_OBJ  := $(TEST_SRC:%.cpp=build/%.o)
BENCH_SRC := $(wildcard bench/*.cpp)
BENCH_BIN := $(BENCH_SRC:bench/%.cpp=build/%)

PROGRAM := lrt

.PHONY: all test bench clean catch2 cuda info reference reproduce-quick reproduce
all: $(PROGRAM) cuda

$(PROGRAM): build/src/main.o build/liblrt.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/liblrt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Isrc -c $< -o $@

# Test objects need Catch2; tests/ensure_catch2.sh installs it or says how.
$(TEST_OBJ): | catch2
catch2:
	@sh tests/ensure_catch2.sh

build/test_lrt: $(TEST_OBJ) build/liblrt.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The tests also run ./lrt as a user would (bad input, end-to-end runs).
test: $(PROGRAM) build/test_lrt
	./build/test_lrt $(TEST_ARGS)

build/bench_%: bench/bench_%.cpp build/liblrt.a
	@mkdir -p build
	$(CXX) $(CXXFLAGS) -Isrc -o $@ $^ $(LDLIBS)

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; ./$$b || exit 1; done

ifeq ($(NVCC),)
cuda:
	@echo "cuda: nvcc not found; skipping the CUDA path (CPU build is complete)"
else ifeq ($(CUDA_SRC),)
cuda:
	@echo "cuda: nvcc at $(NVCC); no CUDA sources in cuda/ yet"
else
CUDA_OBJ := $(CUDA_SRC:%.cu=build/%.o)
cuda: $(CUDA_OBJ)
build/cuda/%.o: cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 -Isrc -c $< -o $@
endif

# The paper's figures at our scale (EXPERIMENTS.md): quick on the built-in
# corpus (~17 min on 2 cores), full on the Brown corpus (a long run; not timed).
reproduce-quick: $(PROGRAM)
	sh experiments/reproduce.sh quick
reproduce: $(PROGRAM)
	sh experiments/reproduce.sh full

# The committed reference states in data/reference/ (see README.md).
reference: $(PROGRAM)
	sh data/reference/regenerate.sh

info:
	@echo "CXX=$(CXX)  OpenMP: $(OMP_STATE)  NVCC=$(or $(NVCC),none)"

clean:
	rm -rf build $(PROGRAM)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) build/src/main.d
