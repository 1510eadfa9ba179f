# statline: the two commands are `make demo` and `make test` (see README.md).
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps build test test-unit demo bench clean format checksrc

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Unit + integration suites against real Redis, PostgreSQL and Kafka, then the
# unit suite under valgrind and an ASan/UBSan build. Last line: tests: N passed, N failed
test: deps
	@tests/run.sh

# Unit tests only: no servers, seconds.
test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

bench: build
	@bench/run.sh
	@STATLINE_BUILD=$(BUILD) bench/pipeline.sh
	@STATLINE_BUILD=$(BUILD) bench/backfill.sh
	@bench/report.py $(BUILD)/bench

# The deployment for real with Podman (docs/deployment.md): offline checks of
# compose/k8s/Prometheus/Grafana files, then images, the compose stack, one game
# day with a service stopped mid-run, teardown. Minutes; not part of `make test`.
.PHONY: test-containers
test-containers:
	@scripts/deps.sh --containers
	@tests/containers/static.sh
	@tests/containers/run.sh

# The whole pipeline on a simulated league: starts its own servers and services
# under run/, prints the results, stops everything. STATLINE_BUS=kafka for Kafka.
demo: build
	@scripts/demo.sh

checksrc:
	@scripts/checksrc.sh

# libFuzzer targets (tests/fuzz/README.md): each for FUZZ_SECONDS (default 60), in build-fuzz/
# (clang, ASan+UBSan). CI runs `scripts/fuzz.sh --smoke`.
.PHONY: fuzz
fuzz:
	@scripts/fuzz.sh

format:
	@scripts/format.sh

clean:
	rm -rf $(BUILD) build-asan build-valgrind run
