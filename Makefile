# topup: the two commands of the README, and a few more for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench floor check parked chaos reconcile translations clean
CATALOGS := shared services/order services/payment services/wallet services/notify services/sandbox

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

## run: all four services (web and workers) on the embedded default, or on AMQP_URL/*_DATABASE_URL
run: $(STAMP)
	$(BIN)/python -m deploy.run

## test: lint, then the whole suite on real RabbitMQ + PostgreSQL (local ones, or testcontainers),
## TEST_WORKERS files at a time (3: a test spends most of its time waiting for a saga; 0: one by one)
TEST_WORKERS ?= 3
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared services deploy

## bench: top-ups through the deployed processes on RabbitMQ + PostgreSQL (BENCH_ARGS="--n 400 --rate 50")
bench: $(STAMP)
	$(BIN)/python -m deploy.bench $(BENCH_ARGS)

## floor: what HTTP requests, broker hops and transactions cost alone on this machine (the stack's floor)
floor: $(STAMP)
	$(BIN)/python -m deploy.floor

## check: money conservation across the four databases (*_DATABASE_URL; GRACE=seconds past a deadline, default 900)
check: $(STAMP)
	$(BIN)/python -m deploy.check $(if $(GRACE),--grace-seconds $(GRACE))

## chaos: top-ups on the deployed shape while processes are killed and database connections cut (CHAOS_ARGS="--n 300")
chaos: $(STAMP)
	$(BIN)/python -m deploy.chaos $(CHAOS_ARGS)

## reconcile: each provider's settlement report of a day against our payments (RECONCILE="--day 2026-11-28 alipay")
reconcile: $(STAMP)
	$(BIN)/python -m deploy.reconcile $(RECONCILE)

## parked: parked messages on AMQP_URL (PARKED="list" by default; "replay <queue> --all", "discard <queue> <id> --reason ...")
parked: $(STAMP)
	$(BIN)/python -m deploy.parked $(or $(PARKED),list)

## translations: extract the customer words of each package and update its zh_CN catalog (then translate)
translations: $(STAMP)
	@for pkg in $(CATALOGS); do \
	  $(BIN)/pybabel -q extract -F babel.cfg --add-location=file --sort-by-file -o $$pkg/locale/messages.pot $$pkg && \
	  if [ -f $$pkg/locale/zh_CN/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel -q update --no-fuzzy-matching --ignore-obsolete -i $$pkg/locale/messages.pot -d $$pkg/locale -l zh_CN; \
	  else \
	    $(BIN)/pybabel -q init -i $$pkg/locale/messages.pot -d $$pkg/locale -l zh_CN; \
	  fi; \
	done
	@echo "Now translate the empty msgstr entries: grep -c 'msgstr \"\"' */locale/zh_CN/LC_MESSAGES/*.po services/*/locale/zh_CN/LC_MESSAGES/*.po"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
