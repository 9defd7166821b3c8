# charrnn: every target bootstraps .venv when it is missing or when setup.cfg changed.
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
CHARRNN := $(VENV)/bin/charrnn

# The machine's own python3 when charrnn supports it (3.9-3.13), else the newest python3.X on
# PATH; `make PYTHON=python3.12` chooses. Without any, uv (installed into a small bootstrap
# venv) creates $(VENV) with a CPython it downloads.
PYTHON ?=
SYSTEM_PYTHON := $(shell scripts/find-python $(PYTHON))
SYSTEM_PYTHON_VERSION := $(if $(SYSTEM_PYTHON),$(shell $(SYSTEM_PYTHON) -V 2>&1))
UV_PYTHON := 3.12
BOOTSTRAP := $(VENV)-bootstrap

# The CUDA build when a GPU can run the published wheels (compute capability 5.x-8.x), the CPU
# build otherwise (scripts/choose-mxnet says why). Override: make install MXNET=cpu; or
# MXNET=system to use the MXNet already installed for $(PYTHON) (an NGC container's).
MXNET_CHOICE := $(shell scripts/choose-mxnet)
MXNET ?= $(firstword $(MXNET_CHOICE))
ifeq ($(origin MXNET),file)
MXNET_WHY := $(wordlist 2,1000,$(MXNET_CHOICE))
else
MXNET_WHY := MXNET=$(MXNET) given
endif
STAMP := $(VENV)/.installed-$(MXNET)
# The NumPy for .venv's Python: 1.23.5 up to 3.11 (batch-1 generation 1.3x faster than on
# NumPy 2.4; serving and training equal: benchmarks/NOTES.md), the newest 2.x from 3.12 (no
# NumPy 1.23 wheels there). MXNET=system keeps the NumPy its Python has.
NUMPY = $$($(PY) -c 'import sys; print("numpy==1.23.5" if sys.version_info < (3, 12) else "numpy>=2,<3")')

RUN ?= params/nietzsche-lstm
PRETRAINED := params/nietzsche-pretrained
SEED_TEXT ?= The meaning of life is
ARGS ?=
PORT ?= 8000
# The model `make generate` and `make serve` use: yours once `make train` made it.
MODEL = $(if $(wildcard $(RUN)/model.params),$(RUN),$(PRETRAINED))

.PHONY: install train generate serve compare bench bench-peer bench-serve test lint docs notebook check-cuda clean

install: $(STAMP)

# MXNet goes in last and without its declared numpy<2 (scripts/install-mxnet says why).
$(STAMP): setup.cfg pyproject.toml scripts/install-mxnet
ifeq ($(MXNET),system)
	@echo "charrnn: using the MXNet that $(SYSTEM_PYTHON) has (MXNET=system)"
	@test -x $(PY) || $(MAKE) --no-print-directory venv VENV_OPTIONS=--system-site-packages
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[plot,serve,dev]"
	@$(PY) -c 'import charrnn, mxnet' 2>/dev/null || { echo "charrnn: MXNET=system, but $(SYSTEM_PYTHON) has no MXNet that imports; use MXNET=cpu, or an NGC container (docs/installation.md, 'GPUs')"; exit 1; }
else
	@echo "charrnn: installing MXNet's $(if $(filter cpu,$(MXNET)),CPU,CUDA) build (charrnn[$(MXNET)]): $(MXNET_WHY)"
	@test -x $(PY) || $(MAKE) --no-print-directory venv
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[plot,serve,dev]" "$(NUMPY)"
	$(PY) scripts/install-mxnet $(MXNET)
endif
	@rm -f $(VENV)/.installed-*
	@touch $@

.PHONY: venv
ifneq ($(SYSTEM_PYTHON),)
venv:
	@echo "creating $(VENV) with $(SYSTEM_PYTHON) ($(SYSTEM_PYTHON_VERSION))"
	@$(SYSTEM_PYTHON) -m venv $(VENV_OPTIONS) $(VENV) || { rm -rf $(VENV); echo "charrnn: $(SYSTEM_PYTHON) cannot create a venv; on Debian or Ubuntu: sudo apt install python3-venv (or python3.X-venv for $(SYSTEM_PYTHON)), then run make again."; exit 1; }
else ifneq ($(PYTHON),)
venv:
	@echo "charrnn supports Python 3.9-3.13: PYTHON=$(PYTHON) is not one ($$($(PYTHON) -V 2>&1)); choose another or leave PYTHON unset."; exit 1
else
venv:
	@command -v python3 >/dev/null || { echo "charrnn needs Python 3.9-3.13 and this machine has no Python: install one (e.g. sudo apt install python3 python3-venv), then run make again."; exit 1; }
	@echo "no Python 3.9-3.13 here ($$(python3 -V 2>&1)): creating $(VENV) with uv and a CPython $(UV_PYTHON) it downloads"
	test -x $(BOOTSTRAP)/bin/uv || { python3 -m venv $(BOOTSTRAP) && $(BOOTSTRAP)/bin/python -m pip install --quiet uv; }
	@$(BOOTSTRAP)/bin/uv venv --quiet --seed --python $(UV_PYTHON) --python-preference only-managed $(VENV) 2>$(BOOTSTRAP)/uv.log || { \
	  echo "charrnn: uv could not download a Python $(UV_PYTHON) ($$(grep -m1 -iE 'error|fail' $(BOOTSTRAP)/uv.log | sed 's/^ *//' | cut -c1-160)); install Python 3.9-3.13 yourself (e.g. sudo apt install python3 python3-venv, or pyenv install $(UV_PYTHON)), then run make again."; \
	  rm -rf $(VENV); exit 1; }
endif

# Nietzsche is small for this model (540,804 training characters, 883,028 weights): a little
# weight decay keeps it from overfitting (test 1.773 bits/char against 1.793 without, at no
# cost in speed: benchmarks/NOTES.md). ARGS come last, so they override it.
train: $(STAMP)
	$(CHARRNN) train data/nietzsche.txt --out $(RUN) --weight-decay 1e-5 $(ARGS)

generate: $(STAMP)
	$(CHARRNN) generate $(MODEL) --seed-text "$(SEED_TEXT)" --length 500 $(ARGS)

serve: $(STAMP)
	$(CHARRNN) serve $(MODEL) --port $(PORT) $(ARGS)

compare: $(STAMP)
	$(CHARRNN) compare data/nietzsche.txt --models unrolled,rnn_relu,rnn_tanh,gru,lstm $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(if $(QUICK),--quick) $(ARGS)

bench-peer: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0 || $(PY) -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
	$(PY) -m benchmarks --peer $(if $(QUICK),--quick) $(ARGS)

# 1 and 8 clients asking for 200 characters for 20 s against `charrnn serve` on a free port,
# make train's model (if trained) and the shipped one, stepped by onnxruntime and by NumPy.
bench-serve: $(STAMP)
	$(PY) -m benchmarks.serve_load $(if $(wildcard $(RUN)/model.params),$(RUN)) $(PRETRAINED) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check charrnn tests benchmarks

# The documentation site (mkdocs.yml) into site/, offline, strict: a warning fails the build.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

$(VENV)/.installed-docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	@touch $@

# Run docs/quickstart.ipynb in a new empty folder and store its outputs (scripts/run-notebook).
notebook: $(STAMP)
	$(PY) scripts/run-notebook

# The CUDA build in a scratch venv: every CUDA library must resolve from NVIDIA's wheels; on
# a machine without a GPU driver only libcuda.so.1 is missing and charrnn says so in one line.
check-cuda:
	scripts/check-cuda $(VENV)-cuda

clean:
	rm -rf $(VENV) $(BOOTSTRAP) $(VENV)-cuda build dist site *.egg-info .pytest_cache .ruff_cache
