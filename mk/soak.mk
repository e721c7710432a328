# Soak (issue 9): 2,000 headshots on one engine (2 workers, 4 requests in flight) through each of
# Rust, C, Python and Node, RSS sampled every 100 runs; after a 200-run warm-up the median of the
# last 5 samples must be at most 5 % above the median of the first 5 (ROBUSTNESS.md: why medians,
# and the numbers).
#   make soak          all four, one after another (niced: they share the machine)
#   make soak-rust | soak-c | soak-python | soak-node     one of them
# SOAK_RUNS=N changes the number of runs (1,200 or more keeps the two 5-sample windows apart).

SOAK_RUNS ?= 2000
SOAK_FIX := $(abspath tests/fixtures)
SOAK_NICE := nice -n 10
PY_SOAK_VENV := target/py-soak-venv
NODE_SOAK := target/node-soak

.PHONY: soak soak-rust soak-c soak-python soak-node

soak-rust: venv sys-deps
	$(CARGO) build --release -p lichtbild --example soak
	ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) $(SOAK_NICE) target/release/examples/soak $(SOAK_RUNS)

soak-c: c-stage
	$(C_TEST_ENV)
	gcc $(C_CFLAGS) $$(pkg-config --cflags lichtbild) bindings-c/tests/soak.c $$(pkg-config --libs lichtbild) -lpthread -o $(C_OUT)/soak
	$(SOAK_NICE) $(C_OUT)/soak $(SOAK_FIX) $$ort $(SOAK_RUNS)

# The wheel in a venv of its own, as a user installs it; ONNX Runtime from its onnxruntime dependency.
soak-python: py-wheel
	rm -rf $(PY_SOAK_VENV)
	python3 -m venv $(PY_SOAK_VENV)
	$(PY_SOAK_VENV)/bin/pip install --quiet $(PY_WHEELS)/lichtbild-*-manylinux_2_28_*.whl
	(unset ORT_DYLIB_PATH; $(SOAK_NICE) $(PY_SOAK_VENV)/bin/python bindings-python/tests/soak.py $(SOAK_FIX) $(SOAK_RUNS))

# The packed tarball in a scratch project, as node-test does; ONNX Runtime from onnxruntime-node.
soak-node: node-pack
	rm -rf $(NODE_SOAK) && mkdir -p $(NODE_SOAK)
	cp $(NODE_SCRATCH)/lichtbild-*.tgz $(NODE_SOAK)/
	cp $(NODE_DIR)/test/soak.js $(NODE_SOAK)/
	cd $(NODE_SOAK)
	echo '{ "name": "lichtbild-soak", "private": true }' > package.json
	$(NODE_NPM) install --prefer-offline --no-save ./lichtbild-*.tgz > /dev/null
	unset ORT_DYLIB_PATH
	$(SOAK_NICE) node --expose-gc soak.js $(SOAK_FIX) $(SOAK_RUNS)

soak: soak-rust soak-c soak-python soak-node
	echo "soak: Rust, C, Python and Node: RSS does not grow after warm-up"

TEST_TARGETS += soak
