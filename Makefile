# charrnn: every target bootstraps .venv when it is missing or when setup.cfg changed.
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
CHARRNN := $(VENV)/bin/charrnn

# MXNet 1.9.1 needs Python 3.8-3.11. Without one, uv (installed into a small bootstrap venv)
# creates $(VENV) with a CPython 3.11 it downloads.
SYSTEM_PYTHON := $(shell scripts/find-python)
BOOTSTRAP := $(VENV)-bootstrap

# The CUDA build when a GPU can run the published wheels (compute capability 5.x-8.x), the CPU
# build otherwise (scripts/choose-mxnet says why). Override: make install MXNET=cpu
MXNET_CHOICE := $(shell scripts/choose-mxnet)
MXNET ?= $(firstword $(MXNET_CHOICE))
ifeq ($(origin MXNET),file)
MXNET_WHY := $(wordlist 2,1000,$(MXNET_CHOICE))
else
MXNET_WHY := MXNET=$(MXNET) given
endif
STAMP := $(VENV)/.installed-$(MXNET)

RUN ?= params/nietzsche-lstm
PRETRAINED := params/nietzsche-pretrained
SEED_TEXT ?= The meaning of life is
ARGS ?=
PORT ?= 8000
# The model `make generate` and `make serve` use: yours once `make train` made it.
MODEL = $(if $(wildcard $(RUN)/model.params),$(RUN),$(PRETRAINED))

.PHONY: install train generate serve compare bench bench-peer bench-serve test lint check-cuda clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@echo "charrnn: installing MXNet's $(if $(filter cpu,$(MXNET)),CPU,CUDA) build (charrnn[$(MXNET)]): $(MXNET_WHY)"
	@test -x $(PY) || $(MAKE) --no-print-directory venv
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[$(MXNET),plot,serve,dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

.PHONY: venv
ifneq ($(SYSTEM_PYTHON),)
venv:
	@echo "creating $(VENV) with $(SYSTEM_PYTHON)"
	$(SYSTEM_PYTHON) -m venv $(VENV)
else
venv:
	@command -v python3 >/dev/null || { echo "charrnn needs Python 3.8-3.11 (MXNet 1.9.1) and this machine has no Python: install python3.11 (e.g. sudo apt install python3.11 python3.11-venv), then run make again."; exit 1; }
	@echo "no Python 3.8-3.11 here ($$(python3 -V 2>&1)); MXNet 1.9.1 needs one: creating $(VENV) with uv and a CPython 3.11 it downloads"
	test -x $(BOOTSTRAP)/bin/uv || { python3 -m venv $(BOOTSTRAP) && $(BOOTSTRAP)/bin/python -m pip install --quiet uv; }
	@$(BOOTSTRAP)/bin/uv venv --quiet --seed --python 3.11 --python-preference only-managed $(VENV) 2>$(BOOTSTRAP)/uv.log || { \
	  echo "charrnn: uv could not download a Python 3.11 ($$(grep -m1 -iE 'error|fail' $(BOOTSTRAP)/uv.log | sed 's/^ *//' | cut -c1-160)); install python3.11 yourself (e.g. sudo apt install python3.11 python3.11-venv, or pyenv install 3.11), then run make again."; \
	  rm -rf $(VENV); exit 1; }
endif

train: $(STAMP)
	$(CHARRNN) train data/nietzsche.txt --out $(RUN) $(ARGS)

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

# 8 clients asking for 200 characters for 20 s against `charrnn serve` on a free port.
bench-serve: $(STAMP)
	$(PY) -m benchmarks.serve_load $(MODEL) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check charrnn tests benchmarks

# The CUDA build in a scratch venv: every CUDA library must resolve from NVIDIA's wheels; on
# a machine without a GPU driver only libcuda.so.1 is missing and charrnn says so in one line.
check-cuda:
	scripts/check-cuda $(VENV)-cuda

clean:
	rm -rf $(VENV) $(BOOTSTRAP) $(VENV)-cuda build *.egg-info .pytest_cache .ruff_cache
