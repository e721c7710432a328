# The C library (bindings-c/): liblichtbild.so (soname liblichtbild.so.N) and liblichtbild.a, the
# cbindgen-generated lichtbild.h, lichtbild.pc, and the C tests.
#   make c-lib                       build the libraries (and target/c/lichtbild.pc for PREFIX)
#   make c-install PREFIX=/opt/lb    install lib/, include/, lib/pkgconfig/ (DESTDIR honoured)
#   make c-header                    regenerate bindings-c/include/lichtbild.h after an API change
#   make c-test                      header drift, exported symbols, soname, the C test program
#                                    (plain, ASAN, valgrind; sealing needs age-keygen from
#                                    sys-deps), examples/c via pkg-config

C_CBINDGEN_VERSION := 0.29.0
C_CBINDGEN := target/tools/cbindgen-$(C_CBINDGEN_VERSION)/bin/cbindgen
C_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
C_ABI := $(shell sed -n 's/^const ABI_VERSION: u32 = \([0-9]*\);/\1/p' bindings-c/build.rs)
C_OUT := target/c
C_STAGE := $(abspath $(C_OUT)/stage)
PREFIX ?= /usr/local
C_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -O1

.PHONY: c-lib c-header c-header-check c-install c-stage c-test c-test-packaging c-test-run c-test-asan c-test-valgrind c-test-examples

# A pinned cbindgen, so the header in git is exactly what this version generates.
$(C_CBINDGEN):
	$(CARGO) install cbindgen --version $(C_CBINDGEN_VERSION) --locked --root target/tools/cbindgen-$(C_CBINDGEN_VERSION)

c-header: $(C_CBINDGEN)
	cd bindings-c && ../$(C_CBINDGEN) --quiet --config cbindgen.toml --crate lichtbild-c --output include/lichtbild.h .

c-header-check: $(C_CBINDGEN)
	mkdir -p $(C_OUT)
	(cd bindings-c && ../$(C_CBINDGEN) --quiet --config cbindgen.toml --crate lichtbild-c --output ../$(C_OUT)/lichtbild.h .)
	diff -u bindings-c/include/lichtbild.h $(C_OUT)/lichtbild.h || { echo "bindings-c/include/lichtbild.h is out of date: run 'make c-header' and commit it" >&2; exit 1; }

c-lib: sys-deps
	$(CARGO) build --release -p lichtbild-c
	mkdir -p $(C_OUT)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(C_VERSION)|' bindings-c/lichtbild.pc.in > $(C_OUT)/lichtbild.pc

c-install: c-lib
	d="$(DESTDIR)$(PREFIX)"
	install -d "$$d/lib/pkgconfig" "$$d/include"
	install -m 644 bindings-c/include/lichtbild.h "$$d/include/"
	install -m 755 target/release/liblichtbild.so "$$d/lib/liblichtbild.so.$(C_VERSION)"
	ln -sfn liblichtbild.so.$(C_VERSION) "$$d/lib/liblichtbild.so.$(C_ABI)"
	ln -sfn liblichtbild.so.$(C_ABI) "$$d/lib/liblichtbild.so"
	install -m 644 target/release/liblichtbild.a "$$d/lib/"
	install -m 644 $(C_OUT)/lichtbild.pc "$$d/lib/pkgconfig/"
	echo "installed liblichtbild $(C_VERSION) into $$d"

# Each step is its own target so one can be rerun alone; c-test runs them all, in this order.
C_TEST_ENV = export PKG_CONFIG_PATH=$(C_STAGE)/lib/pkgconfig LD_LIBRARY_PATH=$(C_STAGE)/lib; ort=$(abspath $(ORT_LIB))

# sys-deps: age-keygen makes the keys the sealed-output test encrypts to.
c-stage: venv sys-deps
	for tool in gcc pkg-config valgrind nm readelf age-keygen; do
	  command -v $$tool > /dev/null || { echo "c-test needs $$tool: apt-get install gcc pkg-config valgrind binutils age" >&2; exit 1; }
	done
	rm -rf $(C_STAGE)
	$(MAKE) --no-print-directory c-install PREFIX=$(C_STAGE)

c-test-packaging:
	$(C_TEST_ENV)
	echo "== packaging: soname, exported symbols, pkg-config"
	lib=$(C_STAGE)/lib/liblichtbild.so.$(C_VERSION)
	readelf -d $$lib | grep -q 'SONAME.*\[liblichtbild\.so\.$(C_ABI)\]' || { echo "soname is not liblichtbild.so.$(C_ABI)" >&2; exit 1; }
	exported=$$(nm -D --defined-only $$lib | awk '{print $$3}' | sort)
	declared=$$(grep -E '^[A-Za-z].*\blb_[a-z0-9_]+\(' bindings-c/include/lichtbild.h | grep -oE '\blb_[a-z0-9_]+\(' | tr -d '(' | sort -u)
	[ -n "$$declared" ] && [ "$$exported" = "$$declared" ] || { echo "exported symbols differ from lichtbild.h:"; diff <(echo "$$declared") <(echo "$$exported"); exit 1; } >&2
	echo "$$(echo "$$exported" | wc -l) symbols exported, all lb_ and all declared in lichtbild.h"
	[ "$$(pkg-config --modversion lichtbild)" = "$(C_VERSION)" ]

# Built against the staged install through pkg-config, like a user's program.
C_CC_TEST = gcc $(C_CFLAGS) $$(pkg-config --cflags lichtbild) bindings-c/tests/test_lichtbild.c $$(pkg-config --libs lichtbild) -lpthread -lm

c-test-run:
	$(C_TEST_ENV)
	echo "== test_lichtbild"
	$(C_CC_TEST) -o $(C_OUT)/test_lichtbild
	$(C_OUT)/test_lichtbild tests/fixtures $$ort

c-test-asan:
	$(C_TEST_ENV)
	echo "== test_lichtbild under ASAN (the C side instrumented; leaks checked for the whole process)"
	$(C_CC_TEST) -fsanitize=address -fno-omit-frame-pointer -o $(C_OUT)/test_lichtbild_asan
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(abspath bindings-c/tests/lsan.supp):print_suppressions=0 \
	  $(C_OUT)/test_lichtbild_asan tests/fixtures $$ort

# `quick`: one worker, fewer pipeline runs (valgrind runs ONNX Runtime ~30x slower).
c-test-valgrind:
	$(C_TEST_ENV)
	echo "== test_lichtbild quick under valgrind"
	$(C_CC_TEST) -o $(C_OUT)/test_lichtbild
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	  --suppressions=bindings-c/tests/valgrind.supp $(C_OUT)/test_lichtbild tests/fixtures $$ort quick

c-test-examples:
	$(C_TEST_ENV)
	echo "== examples/c via pkg-config (shared and static)"
	CFLAGS="$(C_CFLAGS)" $(MAKE) --no-print-directory -B -C $(C_OUT) -f $(abspath examples/c/Makefile) VPATH=$(abspath examples/c) headshot
	gcc $(C_CFLAGS) $$(pkg-config --cflags lichtbild) examples/c/headshot.c -o $(C_OUT)/headshot-static \
	  $(C_STAGE)/lib/liblichtbild.a $$(pkg-config --static --libs-only-l lichtbild | sed 's/-llichtbild\b//')
	if readelf -d $(C_OUT)/headshot-static | grep -q liblichtbild; then echo 'headshot-static links liblichtbild.so' >&2; exit 1; fi
	for exe in headshot headshot-static; do
	  rm -f $(C_OUT)/$$exe.jpg $(C_OUT)/none.jpg
	  ORT_DYLIB_PATH=$$ort $(C_OUT)/$$exe --consent tests/fixtures/grace_hopper.jpg $(C_OUT)/$$exe.jpg white > $(C_OUT)/$$exe-receipt.json
	  [ "$$(head -c 3 $(C_OUT)/$$exe.jpg | od -An -tx1 | tr -d ' ')" = "ffd8ff" ]
	  grep -q '"face_geometry"' $(C_OUT)/$$exe-receipt.json
	  # Without consent the library refuses, and the example says so.
	  if ORT_DYLIB_PATH=$$ort $(C_OUT)/$$exe tests/fixtures/grace_hopper.jpg $(C_OUT)/none.jpg 2> $(C_OUT)/$$exe-err.txt; then exit 1; fi
	  grep -q consent_required $(C_OUT)/$$exe-err.txt
	  [ ! -e $(C_OUT)/none.jpg ]
	  echo "$$exe: ok"
	done

c-test: c-header-check c-stage c-test-packaging c-test-run c-test-asan c-test-valgrind c-test-examples
	echo "c-test: all passed"

TEST_TARGETS += c-test
