# The Python package (bindings-python/, issue 5): a manylinux abi3 wheel built with maturin and
# zig (both from PyPI), tested with pytest, mypy and stubtest in a fresh venv where the wheel is
# installed, so the tests see what a user gets, not the source tree.
.PHONY: py-wheel py-test py-install-check

PY_TOOLS := $(VENV)/.py-tools
PY_WHEELS := target/wheels
PY_TEST_VENV := target/py-test-venv
PY_TEST_DEPS := pillow==13.0.0 pytest==9.2.0 mypy==2.4.1

$(PY_TOOLS): $(VENV)/.ok
	$(VENV)/bin/pip install --quiet maturin==1.16.0 ziglang==0.17.1
	touch $@

# manylinux_2_28: links against glibc 2.28 symbols (zig provides them), installable on older systems.
py-wheel: $(PY_TOOLS) sys-deps
	rm -f $(PY_WHEELS)/lichtbild-*.whl
	PATH="$(abspath $(VENV))/bin:$$PATH" maturin build --release --compatibility manylinux_2_28 --zig \
	  -m bindings-python/Cargo.toml --out $(PY_WHEELS)

# sys-deps: the sealing tests generate keys with age-keygen and decrypt with the age CLI.
py-test: sys-deps py-wheel
	rm -rf $(PY_TEST_VENV)
	python3 -m venv $(PY_TEST_VENV)
	$(PY_TEST_VENV)/bin/pip install --quiet --upgrade pip
	# The wheel pulls onnxruntime and numpy from PyPI itself: the fresh-venv install is tested too.
	$(PY_TEST_VENV)/bin/pip install --quiet $(PY_WHEELS)/lichtbild-*-manylinux_2_28_*.whl $(PY_TEST_DEPS)
	# The hand-written stubs against the compiled module, then typed user code against the stubs.
	(cd $(PY_TEST_VENV) && bin/python -m mypy.stubtest lichtbild)
	$(PY_TEST_VENV)/bin/mypy --strict --no-incremental bindings-python/tests/typing_usage.py examples/python/*.py
	(unset ORT_DYLIB_PATH; $(PY_TEST_VENV)/bin/python -m pytest bindings-python/tests -p no:cacheprovider -ra --durations=5)

# `pip install ./bindings-python` the way a user would (maturin from PyPI as the build backend).
py-install-check: venv sys-deps
	rm -rf target/py-install-venv
	python3 -m venv target/py-install-venv
	target/py-install-venv/bin/pip install --quiet ./bindings-python
	(cd target && unset ORT_DYLIB_PATH && py-install-venv/bin/python -c 'import lichtbild, sys; \
	  e = lichtbild.Engine(workers=1); r = e.process(open("../tests/fixtures/grace_hopper.jpg", "rb").read(), \
	  consent=lichtbild.Consent(face_geometry=True)); assert (r.width, r.height) == (531, 709); \
	  assert "onnxruntime" not in sys.modules; print("pip install ./bindings-python:", r, e.runtime["library"])')

TEST_TARGETS += py-test py-install-check
