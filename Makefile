# Everything a developer or CI needs, from a fresh clone: `make test`.
# Stamp files make each install step rerun only when its inputs change.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=
# The suite waits on servers and subprocesses more than it computes: one worker a core
# (pytest-xdist) runs it in about 8 minutes on 2 cores instead of 11.
PYTEST_WORKERS ?= 2

.PHONY: venv node_modules test lint demo clean

venv: $(VENV_STAMP)

$(VENV_STAMP): setup.cfg setup.py
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -e '.[test,dev,bench]'
	touch $@

node_modules: $(NODE_STAMP)

# npm ci removes node_modules first, so the stamp is written after it.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: venv node_modules redis-server
	$(VENV_PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check feast_chalk_dynamo tests feature_repo_example benchmarks
	$(VENV)/bin/mypy feast_chalk_dynamo

demo: venv
	$(VENV_PY) -m feature_repo_example.demo

# Read latency and client CPU vs Feast's DynamoDB store on a local dynalite, then on the
# SIMULATED DynamoDB (benchmarks/simulated_dynamodb/) in front of it; prints ratios, asserts nothing.
# Then the namespace cache and Bloom filter beside Feast's Redis and DynamoDB stores
# (cache_bench), then write throughput (bench-write), in one recipe so reads run first.
.PHONY: bench
bench: venv node_modules redis-server
	$(VENV_PY) -m benchmarks.read_bench
	$(VENV_PY) -m benchmarks.cache_bench
	$(VENV_PY) -m benchmarks.write_bench $(BENCH_WRITE_ARGS)

# Feast's Redis store is the cache benchmark's baseline (its smoke test runs in `make test`):
# Debian's redis-server, installed if missing. Where apt-get cannot (not root, not Debian)
# the benchmark skips its Redis column and says so.
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
	  || echo "redis-server not installed: the cache benchmark will skip Feast's Redis store"

# Windowed aggregations: pushes a second (dynalite, and the simulated endpoint), a read of
# 100 entities x 8 windowed features against a plain read of 8, write units per event; prints
# ratios and targets, asserts nothing. `make bench-agg BENCH_AGG_ARGS=--quick` takes about a minute.
BENCH_AGG_ARGS ?=
.PHONY: bench-agg
bench-agg: venv node_modules
	$(VENV_PY) -m benchmarks.agg_bench $(BENCH_AGG_ARGS)

# Write throughput vs Feast's DynamoDB store, on dynalite and on a simulated DynamoDB
# (benchmarks/simulated_dynamodb/); prints ratios, asserts nothing. About 6 minutes;
# `make bench-write BENCH_WRITE_ARGS=--quick` takes under 2.
BENCH_WRITE_ARGS ?=
.PHONY: bench-write
bench-write: venv node_modules
	$(VENV_PY) -m benchmarks.write_bench $(BENCH_WRITE_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
