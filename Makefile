# The two commands: `make demo` and `make test`.  Both create .venv and install what they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= demo-out

.PHONY: demo test venv system-deps clean

$(VENV)/.stamp-runtime: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.stamp-runtime

system-deps:
	bash tests/setup/system-deps.sh

demo: $(VENV)/.stamp-runtime
	$(VENV)/bin/mobilepack convert examples/digits/digits.keras -o $(DEMO_OUT)/models \
		--quantize fp32,fp16,dynamic,int8,int16x8 \
		--calibration examples/digits/calibration --validation examples/digits/eval
	@echo
	@echo "demo outputs: $(abspath $(DEMO_OUT))/models (convert.md is the summary)"

test: $(VENV)/.stamp-dev system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build dist
