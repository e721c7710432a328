# The bad-input corpus and fuzzing (issue 9; tests/corpus/, fuzz/, FUZZING.md).
#   make corpus-data   generate target/corpus/{files/,manifest.json} from the fixtures and the
#                      committed fuzzer regressions (seeded, ~5 s; never committed: no drift)
#   make corpus-test   every manifest case through the C library (the Rust, Python and Node corpus
#                      tests run inside rust-test, py-test and node-test, which need corpus-data)
#   make fuzz          build the cargo-fuzz targets (nightly) and run `decode` and `pipeline` side
#                      by side for FUZZ_SECONDS each (default 600), seeded from the corpus; logs
#                      in target/fuzz-logs, crashers in target/fuzz-artifacts. Not part of `make test`.

CORPUS := target/corpus
CORPUS_DEPS := tests/corpus/make_corpus.py tests/fixtures/grace_hopper.jpg tests/fixtures/astronaut.png \
  $(wildcard tests/corpus/regressions.json tests/corpus/regressions/*)

.PHONY: corpus-data corpus-test fuzz fuzz-build

$(CORPUS)/manifest.json: $(CORPUS_DEPS) | $(VENV)/.ok
	$(PY) tests/corpus/make_corpus.py $(CORPUS)

corpus-data: $(CORPUS)/manifest.json

# The binding suites read the same manifest.
rust-test py-test node-test: corpus-data

corpus-test: c-stage corpus-data
	$(C_TEST_ENV)
	gcc $(C_CFLAGS) $$(pkg-config --cflags lichtbild) bindings-c/tests/test_corpus.c $$(pkg-config --libs lichtbild) -o $(C_OUT)/test_corpus
	$(C_OUT)/test_corpus $(abspath $(CORPUS))/manifest.json $$ort

TEST_TARGETS += corpus-test

# --- fuzzing ------------------------------------------------------------------------------------
FUZZ_SECONDS ?= 600
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ_ROOT := target/tools/cargo-fuzz-$(CARGO_FUZZ_VERSION)
FUZZ_CARGO = env PATH=$(abspath $(CARGO_FUZZ_ROOT))/bin:$$PATH nice -n 10 cargo +nightly fuzz
FUZZ_WORK := target/fuzz-work

$(CARGO_FUZZ_ROOT)/bin/cargo-fuzz:
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CARGO_FUZZ_ROOT)

# Its own workspace and target dir (ASAN and coverage flags: nothing is shared with release).
fuzz-build: $(CARGO_FUZZ_ROOT)/bin/cargo-fuzz sys-deps
	rustup toolchain list | grep -q '^nightly' || { echo "make fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
	cd fuzz && $(FUZZ_CARGO) build --target-dir ../target/fuzz

# Seeds: the corpus files up to 64 KiB (the truncations, headers, small photos, regressions) and
# the small synthetic files of core/tests/data. Each target keeps its growing corpus in
# $(FUZZ_WORK)/<target>. One core each; the pipeline target needs ONNX Runtime (ORT_DYLIB_PATH).
fuzz: fuzz-build corpus-data
	mkdir -p $(FUZZ_WORK)/seeds target/fuzz-logs
	find $(CORPUS)/files core/tests/data -type f -size -65k ! -name '*.onnx' ! -name '*.py' ! -name '*.md' -exec cp -t $(FUZZ_WORK)/seeds {} +
	export ORT_DYLIB_PATH=$(abspath $(ORT_LIB))
	for t in decode pipeline; do
	  mkdir -p $(FUZZ_WORK)/$$t target/fuzz-artifacts/$$t
	  # -detect_leaks=0: ONNX Runtime's per-process singletons look like leaks to LeakSanitizer.
	  # -timeout: a single input running longer than this is a hang, i.e. a finding.
	  (cd fuzz && $(FUZZ_CARGO) run --target-dir ../target/fuzz $$t ../$(FUZZ_WORK)/$$t ../$(FUZZ_WORK)/seeds -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=30 -rss_limit_mb=4096 -detect_leaks=0 -print_final_stats=1 \
	    -artifact_prefix=$(abspath target/fuzz-artifacts/$$t)/ > $(abspath target/fuzz-logs/$$t.log) 2>&1; echo "$$t exit $$?" >> $(abspath target/fuzz-logs/$$t.log)) &
	done
	wait
	for t in decode pipeline; do echo "== $$t"; grep -E '^#[0-9]+.*(DONE|pulse)|stat::|exit [0-9]|ERROR|panicked' target/fuzz-logs/$$t.log | tail -n 12; done
	! grep -q 'exit [1-9]' target/fuzz-logs/decode.log target/fuzz-logs/pipeline.log || { echo "a fuzzer found something: see target/fuzz-artifacts/ and target/fuzz-logs/" >&2; exit 1; }
