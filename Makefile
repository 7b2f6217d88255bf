# chunkserve: `make demo` runs the main job, `make test` builds and runs the tests.
# Both install the Debian packages the build needs first (only those missing).

BUILD ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# What the build, tests and benchmarks need from Debian.
PACKAGES := cmake g++ make pkg-config libgtest-dev libgmock-dev libbenchmark-dev \
  nlohmann-json3-dev libcpp-httplib-dev libsqlite3-dev libssl-dev zlib1g-dev \
  python3 python3-numpy poppler-utils libhnswlib-dev dataset-fashion-mnist clang libtsan2 \
  chromium curl postgresql libpq-dev redis-server libhiredis-dev haproxy

.PHONY: deps configure build test tsan thread-safety demo bench clean cluster cluster-down

deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# ThreadSanitizer build of the concurrent parts: the engine core (scheduler,
# engine), the KV caches and the HTTP server, and their tests.
TSAN_BUILD ?= build-tsan
# engine_test runs its concurrency cases only (the rest are single-threaded
# numerics, slow under TSan).
TSAN_TESTS := sched_test kv_test engine_test:EngineConcurrency.* server_test
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHUNKSERVE_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread"
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target $(foreach t,$(TSAN_TESTS),$(firstword $(subst :, ,$(t))))
	set -e; for t in $(TSAN_TESTS); do \
	  name=$${t%%:*}; filter=$${t#*:}; [ "$$filter" = "$$t" ] && filter='*'; \
	  bin=$$(find $(TSAN_BUILD)/tests -type f -name $$name | head -1); \
	  echo "== $$name $$filter (ThreadSanitizer)"; \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" $$bin --gtest_brief=1 --gtest_filter="$$filter"; \
	done

# Clang's -Wthread-safety over the modules whose members are annotated
# GUARDED_BY (base/thread_annotations.h: kv's chunk cache, sched's inbox): a
# guarded member touched without its lock fails the build. (Clang 14 cannot
# compile the tokenizer's Jinja interpreter, so the engine and server, which
# need it, are left to gcc and ThreadSanitizer.)
TS_BUILD ?= build-thread-safety
thread-safety: deps
	CC=clang CXX=clang++ cmake -S . -B $(TS_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCHUNKSERVE_BUILD_TESTS=OFF \
	  -DCHUNKSERVE_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror=thread-safety"
	cmake --build $(TS_BUILD) -j$(JOBS) --target cs_kv cs_sched

demo: build
	./tools/demo.sh $(BUILD) "$(MODEL)" "$(DOCS)"

# A local cluster on loopback: PostgreSQL, Redis, replicas and HAProxy
# (tools/cluster/cluster.sh; README "Running several replicas").
cluster: build
	@[ -n "$(MODEL)" ] || { echo "usage: make cluster MODEL=M.gguf"; exit 2; }
	CHUNKSERVE=$(BUILD)/chunkserve ./tools/cluster/cluster.sh up "$(MODEL)"

cluster-down:
	./tools/cluster/cluster.sh down

clean:
	rm -rf $(BUILD)
