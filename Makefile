# chunkserve: `make demo` runs the main job, `make test` builds and runs the tests.
# Both install the Debian packages the build needs first (only those missing).

BUILD ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# What the build, tests and benchmarks need from Debian.
PACKAGES := cmake g++ make pkg-config libgtest-dev libgmock-dev libbenchmark-dev \
  nlohmann-json3-dev libcpp-httplib-dev libsqlite3-dev libssl-dev zlib1g-dev \
  python3 python3-numpy poppler-utils libhnswlib-dev dataset-fashion-mnist

.PHONY: deps configure build test demo bench clean

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

demo: build
	./tools/demo.sh $(BUILD) "$(MODEL)" "$(DOCS)"

clean:
	rm -rf $(BUILD)
