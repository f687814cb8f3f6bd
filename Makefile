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

# The tests: formatting, lints, unit tests and integration tests on real Kafka.
# Integration tests start brokers; one test at a time keeps a 2-core host calm.
test: setup lint
	cargo test --all-targets --no-fail-fast -- --test-threads=1
	cargo run -- experiment all --check --profile quick

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
