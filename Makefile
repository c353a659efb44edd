# One-command set-up: `make demo` and `make test` create .venv if missing and install the project.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
OUT    ?= outputs

.PHONY: install demo test lint bench results zoo eval clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m field_examples.amt_field_demo --out $(OUT)/demo

test: install
	@$(PY) -m pytest -n 2 --dist loadfile -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check .

bench: install
	@for b in benchmarks/*.py; do m=$$(basename $$b .py); [ "$$m" = __init__ ] && continue; \
	  echo "== benchmarks.$$m"; $(PY) -m benchmarks.$$m || exit 1; done

results: install
	$(PY) -m benchmarks.amt_sferic_results

zoo: install
	$(VENV)/bin/dnnsec zoo build --arch mnist_cnn,resnet8,resnet20 --seeds 0,1,2

eval: install
	$(PY) -m benchmarks.dnnsec_eval --out $(OUT)/eval
	$(PY) -m benchmarks.dnnsec_eval_sferic --out $(OUT)/eval

clean:
	rm -rf $(OUT) .pytest_cache .hypothesis .ruff_cache
