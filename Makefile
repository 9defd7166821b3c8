# charrnn: every target bootstraps .venv when it is missing or when setup.cfg changed.
SHELL := /bin/bash

# MXNet 1.9.1 needs Python 3.8-3.11 (it imports distutils; numpy<1.24 has no 3.12 wheels).
PYTHON_CANDIDATES := python3.11 python3.10 python3.9 python3.8 python3
SYSTEM_PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
	command -v $$p >/dev/null 2>&1 && \
	$$p -c 'import sys; sys.exit(not (3, 8) <= sys.version_info[:2] <= (3, 11))' 2>/dev/null && \
	{ echo $$p; break; }; done)

# The CUDA build when nvidia-smi lists a GPU, the CPU build otherwise. Override: make train MXNET=cpu
MXNET ?= $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo cu112 || echo cpu)

VENV := .venv
PY := $(VENV)/bin/python
CHARRNN := $(VENV)/bin/charrnn
STAMP := $(VENV)/.installed-$(MXNET)

RUN ?= params/nietzsche-lstm
PRETRAINED := params/nietzsche-pretrained
SEED_TEXT ?= The meaning of life is
ARGS ?=

.PHONY: install train generate compare bench bench-peer test lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@if [ -z "$(SYSTEM_PYTHON)" ]; then \
	  echo "charrnn needs Python 3.8-3.11 (MXNet 1.9.1 cannot run on 3.12 or newer) and none was found."; \
	  echo "Install one, e.g. 'sudo apt install python3.11 python3.11-venv' or 'pyenv install 3.11', then run make again."; \
	  exit 1; fi
	@test -x $(PY) || { echo "creating $(VENV) with $(SYSTEM_PYTHON)"; $(SYSTEM_PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[$(MXNET),plot,dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

train: $(STAMP)
	$(CHARRNN) train data/nietzsche.txt --out $(RUN) $(ARGS)

generate: $(STAMP)
	@run=$(RUN); [ -f $$run/model.params ] || run=$(PRETRAINED); \
	$(CHARRNN) generate $$run --seed-text "$(SEED_TEXT)" --length 500 $(ARGS)

compare: $(STAMP)
	$(CHARRNN) compare data/nietzsche.txt --models unrolled,rnn_relu,rnn_tanh,gru,lstm $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(if $(QUICK),--quick) $(ARGS)

bench-peer: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0 || $(PY) -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
	$(PY) -m benchmarks --peer $(if $(QUICK),--quick) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check charrnn tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
