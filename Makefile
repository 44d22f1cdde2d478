# Two commands set everything up: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := book/_static/vendor
VENDOR_STAMP := $(VENDOR)/.complete
DATA_ROOT ?= $(CURDIR)/data
RUNS_ROOT ?= $(CURDIR)/runs
# The book reads the built-in synthetic world, unless D2M_DATA points at the original dataset
# (then nothing is generated and the chapters read that directory with the same loader).
BOOK_DATA := $(if $(D2M_DATA),$(D2M_DATA),$(DATA_ROOT)/book)
export PYTHONHASHSEED := 0

# pinned front-end assets for the offline site (npm registry, unpacked at install time, not committed)
NPM_PACKAGES := @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.7 mathjax@3.2.2

.PHONY: help install vendor data ballroom ballroom-import book book-smoke test lint pytest lab bench bench-gpu bench-gpu-dry gpu-wheels clean browser

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[book,dev]'
	touch $@

install: $(STAMP)  ## create .venv and install d2mlib with the book and dev extras

$(VENDOR_STAMP):
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/.npm
	cd $(VENDOR)/.npm && npm pack --silent $(NPM_PACKAGES) >/dev/null
	mkdir -p $(VENDOR)/html-manager $(VENDOR)/requirejs $(VENDOR)/mathjax
	tar xzf $(VENDOR)/.npm/jupyter-widgets-html-manager-*.tgz -C $(VENDOR)/html-manager --strip-components=2 package/dist
	tar xzf $(VENDOR)/.npm/requirejs-*.tgz -C $(VENDOR)/requirejs --strip-components=1 package/require.js
	tar xzf $(VENDOR)/.npm/mathjax-*.tgz -C $(VENDOR)/mathjax --strip-components=2 package/es5
	rm -rf $(VENDOR)/.npm
	touch $@

vendor: $(VENDOR_STAMP)  ## fetch require.js, the widget manager and MathJax from npm into the book

data: $(STAMP)  ## generate the synthetic `book` dataset (skipped when present, or when D2M_DATA is set)
	$(if $(D2M_DATA),@echo "using D2M_DATA=$(D2M_DATA)",$(BIN)/d2m data --preset book --out $(DATA_ROOT)/book --if-missing)

# Real dance (book/real_dance.md): the ballroom dances of Tang, Jia and Mao (ACM MM 2018), read from
# D2M_BALLROOM, else data/tang2018, else ../shared/data/tang2018; never committed. The chapter imports
# them into $(DATA_ROOT)/ballroom itself (cached), and builds with a note where they are absent.
BALLROOM_REPO := https://github.com/mhy12345/Music-to-Dance-Motion-Synthesis
BALLROOM_SRC := $(firstword $(D2M_BALLROOM) $(wildcard $(CURDIR)/data/tang2018) $(wildcard $(CURDIR)/../shared/data/tang2018))

ballroom:  ## clone the public ballroom dataset (Dance with Melody) into data/tang2018 (needs the network)
	@if [ -d data/tang2018 ]; then echo "data/tang2018 is there already"; \
	else mkdir -p data && git clone --depth 1 $(BALLROOM_REPO) data/tang2018; fi

ballroom-import: $(STAMP)  ## import the ballroom dances into $(DATA_ROOT)/ballroom (what the chapter reads)
	$(if $(BALLROOM_SRC),$(BIN)/d2m data import-ballroom $(BALLROOM_SRC) --out $(DATA_ROOT)/ballroom,@echo "no ballroom data: run make ballroom or set D2M_BALLROOM")

# The chapters execute two at a time first (d2mlib.prebuild: one torch thread each, into the build's
# jupyter cache; the timing chapter alone), then jupyter-book renders them from that cache.
BOOK_ENV = D2M_BOOK_BUILD=1 D2M_DATA=$(BOOK_DATA) D2M_RUNS=$(RUNS_ROOT)

book: $(STAMP) $(VENDOR_STAMP) data  ## execute every chapter and build the static site into _build/html
	$(BOOK_ENV) $(BIN)/python -m d2mlib.prebuild --cache _build/.jupyter_cache
	$(BOOK_ENV) $(BIN)/jupyter-book build . --keep-going
	$(BIN)/python -m d2mlib.site check _build/html
	@echo "open _build/html/index.html"

SMOKE_ENV = D2M_BOOK_BUILD=1 D2M_SMOKE=1 D2M_DATA=$(DATA_ROOT)/smoke D2M_RUNS=$(RUNS_ROOT)/smoke

book-smoke: $(STAMP) $(VENDOR_STAMP)  ## the smoke build (tests use it): smoke data, separate output folder
	$(SMOKE_ENV) $(BIN)/python -m d2mlib.prebuild --cache _build/smoke/_build/.jupyter_cache
	$(SMOKE_ENV) $(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/smoke

browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install Debian's chromium (sudo apt-get install chromium)"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

pytest: $(STAMP) $(VENDOR_STAMP) browser
	$(BIN)/python -m pytest -q

test: lint pytest  ## ruff, then every test: units, chapters in smoke mode, the -W build, the browser test

# `make lab`: JupyterLab on the chapters, which open as notebooks on a double click (lab/overrides.json
# sets the default viewer of Markdown files, installed into the venv's Lab settings; a reader's own
# settings still win). `make lab SMOKE=1`: smoke data and runs, every panel reruns in seconds.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB_ENV := $(if $(SMOKE),D2M_SMOKE=1 D2M_DATA=$(DATA_ROOT)/smoke D2M_RUNS=$(RUNS_ROOT)/smoke,D2M_DATA=$(BOOK_DATA) D2M_RUNS=$(RUNS_ROOT))

$(LAB_OVERRIDES): lab/overrides.json $(STAMP)
	mkdir -p $(dir $@) && cp lab/overrides.json $@

lab: $(STAMP) $(LAB_OVERRIDES) $(if $(SMOKE),,data)  ## open the chapters as notebooks in JupyterLab (SMOKE=1: smoke scale)
	$(LAB_ENV) $(BIN)/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) book/

bench: $(STAMP) data  ## run the timing suite and append to runs/timing/results.csv
	$(BIN)/d2m bench --data $(BOOK_DATA) --out $(RUNS_ROOT)/timing/results.csv

# The GPU machine (book/timing.md, "CPU against GPU"): no registry there, so the wheels of what its
# python3 lacks (tqdm, PyYAML, pytest) come in .whl/ and the smoke dataset in data/smoke; both are
# git-ignored, carried along. `make bench-gpu-dry` runs the same script on the CPU at smoke sizes.
GPU_OUT ?= $(RUNS_ROOT)/timing/gpu
GPU_WHEELS := tqdm==4.70.1 pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4 pygments==2.21.0
GPU_PLATFORMS := --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64

gpu-wheels:  ## download the wheels the GPU machine lacks into .whl/ (Python 3.11 to 3.13, x86_64)
	for v in 3.11 3.12 3.13; do $(PYTHON) -m pip download -q --no-deps --only-binary=:all: \
	  --implementation cp $(GPU_PLATFORMS) --python-version $$v -d .whl pyyaml==6.0.4; done
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --implementation cp \
	  $(GPU_PLATFORMS) --python-version 3.12 -d .whl $(GPU_WHEELS)

bench-gpu:  ## on the GPU machine: its CUDA tests, then the GPU timing run into $(GPU_OUT)
	bash tools/gpu_bench.sh $(GPU_OUT)

bench-gpu-dry: $(STAMP) data/smoke  ## the GPU script's dry run on the CPU (smoke sizes, seconds)
	GPU_BENCH_MODE=dry PYTHON=$(BIN)/python bash tools/gpu_bench.sh $(RUNS_ROOT)/timing/gpu-dry

data/smoke: $(STAMP)
	$(BIN)/d2m data --preset smoke --out $(DATA_ROOT)/smoke --if-missing

clean:  ## remove the build, the generated data and runs (keeps .venv)
	rm -rf _build data runs $(VENDOR)
