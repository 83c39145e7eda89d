# make test: lint, format check, import contracts, the docs build and the whole test suite;
# make test-fast: the unit tests alone (a few minutes); make demo: the pipeline on synthetic products.
# Both create .venv first when it is missing (scripts/bootstrap.sh: GDAL, its bindings, crmss).
VENV ?= .venv
PYTHON ?= python3

.PHONY: test test-fast lint docs demo bench-prepare bench-train bench-evaluate bench-predict clean

$(VENV)/.ready: pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh $(VENV)

# the suite on every core (pytest-xdist; a test file stays on one worker, so its module fixtures
# are made once), the 20 slowest tests listed at the end
test: lint docs
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile --durations=20

test-fast: $(VENV)/.ready
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile -m "not slow"

lint: $(VENV)/.ready
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# the documentation site (mkdocs.yml), warnings as errors
docs: $(VENV)/.ready
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

demo: $(VENV)/.ready
	$(VENV)/bin/crmss demo --out demo

bench-prepare: $(VENV)/.ready
	$(VENV)/bin/python bench/prepare.py --work bench-data

bench-train: $(VENV)/.ready
	$(VENV)/bin/python bench/train.py --work bench-data

bench-evaluate: bench-train
	$(VENV)/bin/python bench/evaluate.py --work bench-data

bench-predict: $(VENV)/.ready
	$(VENV)/bin/python bench/predict.py --work bench-data

clean:
	rm -rf $(VENV) demo bench-data build .pytest_cache
