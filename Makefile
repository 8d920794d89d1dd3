# Top-level entry points.  Run as root on a fresh Debian machine, each target
# installs what is missing, configures and builds in build*/, then runs.
#   make test    the whole suite: plain, under ASan+UBSan, concurrency under TSan
#   make bench   the rep comparison (results in bench-results/)
#   make build   just the optimised library, tests and tools in build/

PACKAGES := cmake pkg-config gcc g++ make libcmocka-dev libxxhash-dev libbenchmark-dev gnuplot-nox
FUZZ_PACKAGES := clang libclang-rt-dev
FUZZ_SECONDS ?= 60
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build test test-plain test-asan test-tsan bench fuzz clean
all: build

deps:
	@missing=""; for p in $(PACKAGES) $(EXTRA_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing >/dev/null || exit 1; \
	fi

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)

test-plain: build
	cd build && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE=address,undefined -DMT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_SANITIZE=thread -DMT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -L concurrency -j $(JOBS)

test: test-plain test-asan test-tsan
	@echo "make test: plain, ASan+UBSan and TSan suites passed"

bench: build
	@if [ -x build/bench/mtbench ]; then \
	  build/bench/mtbench --out=bench-results && echo "results in bench-results/"; \
	else \
	  MT_BUILD=build ../shared/anchors/run rocksdb:skiplist ours:skiplist; \
	fi

# libFuzzer targets (spec parser, WAL reader, recovery), each run for
# FUZZ_SECONDS over its seed corpus; any crash, leak or sanitizer report fails.
fuzz:
	@$(MAKE) --no-print-directory deps EXTRA_PACKAGES="$(FUZZ_PACKAGES)"
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_FUZZ=ON -DMT_SANITIZE=address,undefined -DMT_BUILD_TESTS=OFF -DMT_BUILD_BENCH=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@for t in $$(ls fuzz/corpus); do \
	  mkdir -p build-fuzz/corpus-$$t && \
	  echo "fuzz_$$t: $(FUZZ_SECONDS)s" && \
	  build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	    -print_final_stats=1 build-fuzz/corpus-$$t fuzz/corpus/$$t 2>build-fuzz/fuzz_$$t.log \
	    || { tail -50 build-fuzz/fuzz_$$t.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" build-fuzz/fuzz_$$t.log | head -2; \
	done

clean:
	rm -rf build build-asan build-tsan build-fuzz bench-results
