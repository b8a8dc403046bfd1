# dm's two commands on a fresh machine (Debian, root or sudo):
#   make run    set up if needed, then run the main job (`dm run` on the embedded digits data)
#   make test   set up if needed, then run the tests (slow and gpu tests are opt-in: make test-slow)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_BUILD := pkg-config libturbojpeg0-dev libopencv-dev
APT_TEST := chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=

.PHONY: run test test-slow test-all lint bench setup apt-build apt-test clean-lake

run: setup
	$(BIN)/dm run $(ARGS)

test: setup apt-test
	$(BIN)/pytest -q $(ARGS)

test-slow: setup apt-test
	$(BIN)/pytest -q -m slow $(ARGS)

test-all: setup apt-test
	$(BIN)/pytest -q -m "slow or not slow" $(ARGS)

lint: setup
	$(BIN)/ruff check dm tests bench

bench: setup
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/solve_speed.py
	$(BIN)/python bench/training_noise.py

setup: $(STAMP)

# ffcv 1.0.2 compiles against OpenCV and libjpeg-turbo and imports pillow without declaring it.
apt-build:
	@pkg-config --exists opencv4 libturbojpeg 2>/dev/null || { \
	  $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_BUILD); }

# The report test renders the page in headless Chromium.
apt-test:
	@command -v chromium >/dev/null || { \
	  $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_TEST); }

# torch is pinned in the same pip call as everything else, so no other (multi-GB CUDA) build is pulled in.
$(STAMP): pyproject.toml requirements.lock | apt-build
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 -r requirements.lock -e '.[test]'
	touch $(STAMP)

clean-lake:
	find lake -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
