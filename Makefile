# Two commands do everything on a fresh Debian machine with Rust, Python 3.11 and Node 20:
#   make demo   - set up, build, turn a bundled public-domain portrait into a headshot
#   make test   - run every test the project has
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV := .venv
PY := $(VENV)/bin/python
ORT_VERSION := 1.32.0
# The ONNX Runtime library from the onnxruntime wheel (no download from anywhere but PyPI).
ORT_LIB = $(firstword $(wildcard $(VENV)/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*))
export ORT_DISABLE_TELEMETRY := 1
CARGO ?= cargo

.PHONY: demo test venv sys-deps build rust-test lint bench clean

$(VENV)/.ok:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet onnxruntime==$(ORT_VERSION) pillow numpy
	touch $@

venv: $(VENV)/.ok

# Debian packages: cmake and nasm build the bundled libjpeg-turbo (every cargo build needs them),
# strace (the no-file/no-socket proof), age (opens sealed output).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := cmake nasm strace age
.sys-deps.ok:
	missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	touch $@
sys-deps: .sys-deps.ok

build: venv sys-deps
	$(CARGO) build --release -p lichtbild-cli

demo: build
	mkdir -p out
	ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) target/release/lichtbild tests/fixtures/grace_hopper.jpg \
	  -o out/demo-headshot.jpg --preset bewerbung-45x60 --background studio-grey \
	  --consent face-geometry --receipt -
	echo "headshot written to $(abspath out/demo-headshot.jpg)"

rust-test: venv sys-deps
	ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) $(CARGO) test --workspace --release

lint: sys-deps
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Each binding and the plug-ins add their own targets and TEST_TARGETS entries in mk/*.mk.
TEST_TARGETS :=
include $(sort $(wildcard mk/*.mk))

test: lint rust-test $(TEST_TARGETS)

bench: build
	ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) $(CARGO) run --release -p lichtbild --example e2e_bench

clean:
	rm -rf out target
