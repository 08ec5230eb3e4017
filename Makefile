# The two commands: `make run` (the demo) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the commands need, installed when missing (no download but Debian's and PyPI's is
# reachable here): the OpenLDAP headers python-ldap compiles against, slapd for the LDAP tests and
# benchmark, and Chromium for the page tests.
APT_INSTALL = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(1) \
	  || { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(1); }
LDAP_HEADERS := /usr/include/ldap.h
SLAPD := /usr/sbin/slapd
CHROMIUM := /usr/bin/chromium

.PHONY: run run-distributed test test-servers lint venv constraints bench bench-airflow bench-rate-limit bench-partitions bench-memory bench-log bench-ldap clean

# Bytecode is compiled at install: uv leaves it out by default, and where PYTHONDONTWRITEBYTECODE is
# set (as on CI) every Airflow process would otherwise compile ~2,400 modules from source, 10-20 s
# of each `airflow tasks test`, worker and scheduler start.
$(STAMP): requirements.txt constraints.txt pyproject.toml | $(LDAP_HEADERS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt -c constraints.txt -e .
	@touch $(STAMP)

venv: $(STAMP)

# Apps the tests start as their own processes (test-servers/NAME.in, pinned in NAME.txt) get a venv
# each, .venv-NAME: their dependencies are theirs, not the product's (Canaille needs an older
# scim2-models than ours), and the product only talks to them over the network.
TEST_SERVERS := canaille synapse
SERVER_STAMPS := $(foreach name,$(TEST_SERVERS),.venv-$(name)/.installed)

.venv-%/.installed: test-servers/%.txt | $(STAMP)
	@test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	$(BIN)/uv pip install --quiet --compile-bytecode --python .venv-$*/bin/python -r $<
	@touch $@

test-servers: $(SERVER_STAMPS)

run: $(STAMP) $(SLAPD)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/run_demo.py

# The tier tests/distributed runs: CeleryExecutor, two workers, this machine's Redis and PostgreSQL.
run-distributed: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/run_distributed.py $(TIER_ARGS)

$(LDAP_HEADERS):
	$(call APT_INSTALL,libldap2-dev libsasl2-dev)

$(SLAPD):
	$(call APT_INSTALL,slapd)

$(CHROMIUM):
	$(call APT_INSTALL,chromium)

test: $(STAMP) $(SERVER_STAMPS) $(CHROMIUM) $(SLAPD)
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/benchmark.py $(BENCH_ARGS)

# The same three cycles as real Airflow DAG runs (`airflow dags test`, SQLite metadata DB).
bench-airflow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/benchmark_airflow.py $(BENCH_ARGS)

bench-rate-limit: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/benchmark_rate_limit.py $(BENCH_ARGS)

# One app 50 ms away, apply in 1, 2 and 4 partitions on two worker processes (PostgreSQL state store).
bench-partitions: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/benchmark_partitions.py $(BENCH_ARGS)

bench-memory: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/benchmark_memory.py $(BENCH_ARGS)

# Read 100,000 users and 5,000 nested groups from a real slapd: time and peak memory of the read.
bench-ldap: $(STAMP) $(SLAPD)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/benchmark_ldap.py $(BENCH_ARGS)

bench-log: $(STAMP)
	$(BIN)/python scripts/benchmark_log.py $(BENCH_ARGS)

# Re-resolve exact versions after editing requirements.txt.
constraints: $(STAMP)
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements.txt -o constraints.txt
	for name in $(TEST_SERVERS); do \
	  $(BIN)/uv pip compile --quiet --python-version 3.11 test-servers/$$name.in -o test-servers/$$name.txt; done

clean:
	rm -rf $(VENV) $(foreach name,$(TEST_SERVERS),.venv-$(name)) .airflow .demo .distributed
