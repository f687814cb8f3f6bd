# kafka-chaos: host preparation (see scripts/setup.sh).
# KAFKA_VERSION (default 4.3.1) and KAFKA_CHAOS_CACHE pass through, e.g. make image KAFKA_VERSION=4.2.0
# (and KAFKA_PYTHON_VERSION, default 3.0.12, for make venv)
ifdef KAFKA_VERSION
export KAFKA_VERSION
endif
ifdef KAFKA_CHAOS_CACHE
export KAFKA_CHAOS_CACHE
endif
ifdef KAFKA_PYTHON_VERSION
export KAFKA_PYTHON_VERSION
endif

.PHONY: setup jars image venv

# everything: apt packages, Kafka jars, broker image, Python venv
setup:
	scripts/setup.sh

# only the Kafka jars from Maven Central
jars:
	scripts/setup.sh --only jars

# only the offline-built broker image (fetches the jars first if missing)
image:
	scripts/setup.sh --only image

# only kafka-python in $(KAFKA_CHAOS_CACHE)/venv, for producers/kafka-python
venv:
	scripts/setup.sh --only venv

.PHONY: run test lint quick

# The main job: every experiment in experiments/ against a real broker.
run: setup
	cargo run -- experiment all

# The tests: set-up, formatting, lints, unit tests, integration tests on real Kafka and the quick
# matrix (`experiment all --check --profile quick`). scripts/test.sh runs the set-up (the same as
# `make setup`) in the background beside one compilation for the lints and the tests; the quick
# matrix starts as soon as the harness is built and the set-up done, and the test binaries run
# beside it (TEST_JOBS at a time with the matrix, default 2; TEST_JOBS_AFTER once it is done,
# default 3); the machine's node slots (src/infra/slots.rs) keep their brokers together within
# what the cores serve. TEST_JOBS=1 runs them one after another.
test:
	scripts/test.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# The version matrix (not part of `make test`: about 25 minutes on 2 cores): for the oldest
# and the newest supported Kafka, fetch the jars and build the image (each smoke-tested),
# then run a representative quick subset on both backends — one broker and 3-node KRaft
# clusters, the tutorial's modes, a leader kill, a controller kill, an isolated leader.
# MATRIX_VERSIONS and MATRIX_SPECS override; results land in results/ as usual.
MATRIX_VERSIONS ?= 3.6.2 4.4.0
MATRIX_SPECS ?= sync async-with-error compare-async-acks0 compare-idempotent transactional-abort \
                cluster-acksall-leader-kill cluster-controller-kill cluster-leader-isolated
MATRIX_CONTAINER_SPECS ?= sync cluster-acksall-leader-kill

.PHONY: matrix
matrix:
	set -e; for v in $(MATRIX_VERSIONS); do \
	  KAFKA_VERSION=$$v scripts/setup.sh --only jars --only image; \
	  cargo run -- experiment $(MATRIX_SPECS) --profile quick --check --backend process --kafka-version $$v; \
	  cargo run -- experiment $(MATRIX_CONTAINER_SPECS) --profile quick --check --backend container --kafka-version $$v; \
	done
