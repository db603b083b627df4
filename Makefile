# The two commands: `make demo` and `make test`.  Both create .venv and install what they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= demo-out

.PHONY: demo test venv system-deps runtime-deps clean

$(VENV)/.stamp-runtime: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.stamp-runtime

# Everything the tests need (runtime, optional and test-only packages, npm tools, Maven jars).
system-deps:
	bash tests/setup/system-deps.sh

# Only what mobilepack needs at run time (same list, tests/setup/apt-packages.txt): installed as
# root, else named exactly (and the demo stops if a required one is missing).
runtime-deps:
	bash tests/setup/system-deps.sh --runtime

demo: runtime-deps $(VENV)/.stamp-runtime
	$(VENV)/bin/mobilepack build examples/digits/digits.keras --target all -o $(DEMO_OUT) \
		--quantize fp32,fp16,dynamic,int8,int16x8 \
		--calibration examples/digits/calibration --eval-data examples/digits/eval \
		--labels examples/digits/labels.txt --samples examples/digits/samples --force
	@echo
	@echo "demo outputs in $(abspath $(DEMO_OUT)):"
	@echo "  report:  $(abspath $(DEMO_OUT))/reports/report.html"
	@echo "  android: $(abspath $(DEMO_OUT))/android   ios: $(abspath $(DEMO_OUT))/ios   models: $(abspath $(DEMO_OUT))/models"

# Test files run in parallel, one worker per core (pytest-xdist; a file's tests stay on one worker,
# so module fixtures are built once).  PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto

test: $(VENV)/.stamp-dev system-deps
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build dist
