# The two commands: `make demo` and `make test`.  Both create .venv and install what they need.
#
# Python: mobilepack supports 3.11, 3.12 and 3.13.  Both commands take the newest one found --
# python3.13, python3.12, python3.11 on PATH that runs and reports that version (a pyenv shim of an
# unselected version does not), else $(pyenv root)/versions/3.X*/bin/python3.X -- and print
# "using Python 3.13.0 (/path)".  None found: one error line naming the versions, exit 1.
# `make PYTHON=/path/to/python3.12 test` names one instead (it must be 3.11-3.13).  A .venv made with
# another Python than the chosen one is recreated.  The finder: tests/setup/find-python.sh.
PYTHON ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= demo-out

.PHONY: demo test test-versions metadata-goldens venv system-deps runtime-deps clean FORCE

# Runs every time (under make -n too, where it only reports); it rewrites .stamp-python only when the
# interpreter changes, and the install stamps below depend on it.
$(VENV)/.stamp-python: FORCE
	+@PYTHON='$(PYTHON)' bash tests/setup/find-python.sh --venv '$(VENV)' \
		$(if $(findstring n,$(firstword -$(MAKEFLAGS))),--dry-run) >/dev/null

$(VENV)/.stamp-runtime: pyproject.toml $(VENV)/.stamp-python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	$(PIP) check
	@touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime pyproject.toml
	$(PIP) install --quiet -e '.[dev,server]'
	$(PIP) check
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

# The other supported Pythons (CI runs it after `make test`): for each 3.11-3.13 found other than the
# one `make test` uses, a fresh venv, `pip install '.[dev,server]'` (not editable), `pip check` and the tests
# marked smoke against the installed package.  A version not found is skipped with a message, and is a
# failure under CI=true.  See tests/setup/other-pythons.sh.
test-versions:
	PYTHON='$(PYTHON)' bash tests/setup/other-pythons.sh

# The metadata writer's golden files (tests/goldens/metadata/): the input models from this .venv, then
# tflite-support 0.4.4's own writers in a separate Python 3.11 environment (it pins protobuf < 4, which
# TensorFlow 2.21 refuses).  Committed; rerun only to add a case.
GOLDEN_VENV ?= .cache/tflite-support-0.4.4
metadata-goldens: $(VENV)/.stamp-dev
	$(PY) tests/goldens/metadata/make_goldens.py inputs
	@test -x $(GOLDEN_VENV)/bin/python || "$$(bash tests/setup/find-python.sh --minor 3.11 --quiet)" -m venv $(GOLDEN_VENV)
	$(GOLDEN_VENV)/bin/python -m pip install --quiet tflite-support==0.4.4
	$(GOLDEN_VENV)/bin/python tests/goldens/metadata/make_goldens.py goldens

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build dist .cache/pythons
