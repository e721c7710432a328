# GIMP and Krita plug-ins (plugins/): installable folders and zips, and their headless tests.
#   make plugins        out/plugins/{krita,gimp-2.10,gimp-3}/ folders and lichtbild-*.zip to import
#   make plugins-deps   the Debian packages the plug-ins and their tests need (stamp file)
#   make plugins-test   Krita 5.1 and GIMP 2.10 from Debian 12, headless: open a fixture, run the
#                       plug-in non-interactively, save, assert on the saved pixels
#   make plugins-test-trixie   the same for Krita 5.2 and GIMP 3.0 in a Debian 13 chroot
#                       (target/trixie-root, built with debootstrap the first time: ~6 minutes)
# Each plug-in folder carries liblichtbild.so.$(C_ABI) and the ONNX Runtime library from the venv's
# onnxruntime wheel, and hands that ONNX Runtime to the engine explicitly (ort_library).

PLUGINS_OUT := out/plugins
PLUGINS_TMP := $(abspath target/plugins-test)
PLUGINS_APT := krita python3-pyqt5 debootstrap xdotool gimp libgimp2.0-dev xvfb xauth gcc pkg-config
LB_SO := target/release/liblichtbild.so
KRITA_PKG := $(PLUGINS_OUT)/krita/lichtbild_headshot
GIMP2_DIR := $(PLUGINS_OUT)/gimp-2.10/lichtbild-headshot

.PHONY: plugins-test-trixie trixie-chroot plugins-test-krita52 plugins-test-gimp3 plugins-gimp3 plugins plugins-deps plugins-krita plugins-gimp2 plugins-test plugins-test-krita plugins-test-gimp2

.plugins-deps.ok:
	missing=""; for p in $(PLUGINS_APT); do dpkg -s $$p > /dev/null 2>&1 || missing="$$missing $$p"; done
	if [ -n "$$missing" ]; then
	  $(SUDO) apt-get update -qq
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing
	fi
	touch $@
plugins-deps: .plugins-deps.ok

plugins-krita: venv c-lib
	rm -rf $(PLUGINS_OUT)/krita && mkdir -p $(KRITA_PKG)/lib
	cp plugins/krita/lichtbild_headshot.desktop $(PLUGINS_OUT)/krita/
	cp plugins/krita/lichtbild_headshot/*.py plugins/krita/lichtbild_headshot/Manual.html $(KRITA_PKG)/
	cp plugins/common/lichtbild_ctypes.py $(KRITA_PKG)/
	objcopy --strip-debug $(LB_SO) $(KRITA_PKG)/lib/liblichtbild.so.$(C_ABI)  # the release profile keeps debug info
	install -m 755 $(ORT_LIB) $(KRITA_PKG)/lib/
	rm -f $(PLUGINS_OUT)/lichtbild-krita.zip
	(cd $(PLUGINS_OUT)/krita && python3 -m zipfile -c ../lichtbild-krita.zip lichtbild_headshot.desktop lichtbild_headshot)

# Linked against liblichtbild.so with an $ORIGIN rpath: the library sits next to the binary.
plugins-gimp2: venv c-lib .plugins-deps.ok
	rm -rf $(PLUGINS_OUT)/gimp-2.10 && mkdir -p $(GIMP2_DIR)
	objcopy --strip-debug $(LB_SO) $(GIMP2_DIR)/liblichtbild.so.$(C_ABI)
	install -m 755 $(ORT_LIB) $(GIMP2_DIR)/
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -Wno-deprecated-declarations -Ibindings-c/include \
	  $$(pkg-config --cflags gimpui-2.0) plugins/gimp/lichtbild-headshot.c -o $(GIMP2_DIR)/lichtbild-headshot \
	  -L$(GIMP2_DIR) -l:liblichtbild.so.$(C_ABI) -Wl,-rpath,'$$ORIGIN' $$(pkg-config --libs gimpui-2.0)
	rm -f $(PLUGINS_OUT)/lichtbild-gimp-2.10.zip
	(cd $(PLUGINS_OUT)/gimp-2.10 && python3 -m zipfile -c ../lichtbild-gimp-2.10.zip lichtbild-headshot)

# GIMP 3: a Python plug-in (ctypes, like Krita's) in a folder named like its script.
GIMP3_DIR := $(PLUGINS_OUT)/gimp-3/lichtbild-headshot
plugins-gimp3: venv c-lib
	rm -rf $(PLUGINS_OUT)/gimp-3 && mkdir -p $(GIMP3_DIR)/lib
	install -m 755 plugins/gimp/gimp3/lichtbild-headshot.py $(GIMP3_DIR)/
	install -m 644 plugins/common/lichtbild_ctypes.py $(GIMP3_DIR)/
	objcopy --strip-debug $(LB_SO) $(GIMP3_DIR)/lib/liblichtbild.so.$(C_ABI)
	install -m 755 $(ORT_LIB) $(GIMP3_DIR)/lib/
	rm -f $(PLUGINS_OUT)/lichtbild-gimp-3.zip
	(cd $(PLUGINS_OUT)/gimp-3 && python3 -m zipfile -c ../lichtbild-gimp-3.zip lichtbild-headshot)

plugins: plugins-krita plugins-gimp2 plugins-gimp3
	ls -la $(PLUGINS_OUT)

# What the plug-ins see in the tests: a fresh HOME with the plug-in copied in as a user would, and
# no ORT_DYLIB_PATH / LD_LIBRARY_PATH, so only the bundled ONNX Runtime can be found.
PLUGINS_BG := \#1f4e9a
PLUGINS_PHOTO := $(abspath tests/fixtures/grace_hopper.jpg)
PLUGINS_ENV = env -u ORT_DYLIB_PATH -u LD_LIBRARY_PATH HOME=$$t/home XDG_RUNTIME_DIR=$$t/run XDG_CONFIG_HOME=$$t/home/.config XDG_DATA_HOME=$$t/home/.local/share XDG_CACHE_HOME=$$t/home/.cache
PLUGINS_CHECK = $(PY) plugins/tests/check_headshot.py

define KRITA_CHECKS
if [ -e $$t/out/crash.txt ]; then cat $$t/out/crash.txt >&2; exit 1; fi
	$(PLUGINS_CHECK) $$t/out/document.png 531 709 '$(PLUGINS_BG)'
	$(PLUGINS_CHECK) $$t/out/layer.png 531 709 '$(PLUGINS_BG)'
	$(PLUGINS_CHECK) $$t/out/dialog.png 531 709 '$(PLUGINS_BG)'
	grep -q '^consent_required: ' $$t/out/no-consent.txt || { echo "no consent: $$(cat $$t/out/no-consent.txt)" >&2; exit 1; }
	$(PLUGINS_CHECK) --same $$t/out/before.png $$t/out/no-consent.png
	grep -q '^unsupported_format: .*8-bit' $$t/out/u16.txt || { echo "16-bit: $$(cat $$t/out/u16.txt)" >&2; exit 1; }
endef

# Krita 5.1: kritarunner runs plugins/tests/krita_batch.py inside Krita (offscreen Qt, no X).
plugins-test-krita: plugins-krita .plugins-deps.ok
	t=$(PLUGINS_TMP)/krita; rm -rf $$t; mkdir -p $$t/home/.local/share/krita/pykrita $$t/out $$t/run; chmod 700 $$t/run
	# Installed from the zip by Krita's own "Import Python Plugin from File" code.
	python3 /usr/share/krita/pykrita/plugin_importer/plugin_importer.py $(PLUGINS_OUT)/lichtbild-krita.zip $$t/home/.local/share/krita
	start=$$(date +%s)
	$(PLUGINS_ENV) QT_QPA_PLATFORM=offscreen PYTHONPATH=$(abspath plugins/tests) timeout 300 \
	  kritarunner -s krita_batch -f main $$t/home/.local/share/krita/pykrita $(PLUGINS_PHOTO) $$t/out '$(PLUGINS_BG)' > $$t/krita.log 2>&1 || true
	echo "kritarunner took $$(( $$(date +%s) - start )) s (log: $$t/krita.log)"
	$(KRITA_CHECKS)
	echo "krita 5.1: ok ($$(cat $$t/out/no-consent.txt))"

# GIMP 2.10: gimp-console in batch mode calls the procedure through Script-Fu. Batch mode exits
# 0 even when a command fails, so every assertion is on the saved files and the log. Each -b is
# its own Script-Fu run (no shared variables): images are deleted when done, so the last command
# finds the one left, the image the failed call without consent should not have touched.
GIMP2_T := $(PLUGINS_TMP)/gimp2
GIMP2_LOAD = (img (car (gimp-file-load RUN-NONINTERACTIVE "$(PLUGINS_PHOTO)" "$(PLUGINS_PHOTO)")))
GIMP2_RUN = (plug-in-lichtbild-headshot RUN-NONINTERACTIVE img (car (gimp-image-get-active-drawable img)) "bewerbung-45x60" "$(PLUGINS_BG)" 0.0 $(1) 0 $(2))
GIMP2_SAVE = (gimp-image-merge-visible-layers $(1) CLIP-TO-IMAGE) (gimp-file-save RUN-NONINTERACTIVE $(1) (car (gimp-image-get-active-drawable $(1))) "$(or $(3),$(GIMP2_T))/out/$(2)" "$(or $(3),$(GIMP2_T))/out/$(2)")
plugins-test-gimp2: plugins-gimp2
	t=$(GIMP2_T); rm -rf $$t; mkdir -p $$t/home/.config/GIMP/2.10/plug-ins $$t/home/.config/GIMP/2.10/gradients $$t/out $$t/run; chmod 700 $$t/run
	cp -a $(GIMP2_DIR) $$t/home/.config/GIMP/2.10/plug-ins/
	start=$$(date +%s)
	$(PLUGINS_ENV) timeout 300 gimp-console-2.10 -i -d -f --batch-interpreter plug-in-script-fu-eval \
	  -b '(let* ($(GIMP2_LOAD) (new (car $(call GIMP2_RUN,1,1)))) $(call GIMP2_SAVE,new,document.png) (gimp-image-delete new) (gimp-image-delete img))' \
	  -b '(let* ($(GIMP2_LOAD)) $(call GIMP2_RUN,1,0) $(call GIMP2_SAVE,img,layer.png) (gimp-image-delete img))' \
	  -b '(let* ($(GIMP2_LOAD)) $(call GIMP2_SAVE,img,before.png) $(call GIMP2_RUN,0,0))' \
	  -b '(let* ((ids (gimp-image-list)) (img (vector-ref (cadr ids) 0))) (if (= (car ids) 1) (begin $(call GIMP2_SAVE,img,no-consent.png))))' \
	  -b '(gimp-quit 0)' > $$t/gimp.log 2>&1 || true
	echo "gimp-console took $$(( $$(date +%s) - start )) s (log: $$t/gimp.log)"
	$(PLUGINS_CHECK) $$t/out/document.png 531 709 '$(PLUGINS_BG)'
	$(PLUGINS_CHECK) $$t/out/layer.png 531 709 '$(PLUGINS_BG)'
	grep -q 'lichtbild: .*consent' $$t/gimp.log || { cat $$t/gimp.log; echo "no consent error in the GIMP log" >&2; exit 1; } >&2
	$(PLUGINS_CHECK) --same $$t/out/before.png $$t/out/no-consent.png
	echo "gimp 2.10: ok ($$(grep -o 'lichtbild: .*consent[^"]*' $$t/gimp.log | head -n1))"

# The GIMP 2.10 dialog under Xvfb: a first, non-interactive call leaves its settings as the
# dialog's defaults (last used values, never consent); xdotool ticks consent (Alt+A) and presses
# OK (Alt+O) like a user; the headshot GIMP then holds is saved and checked.
GIMP2_UI_T := $(PLUGINS_TMP)/gimp2-ui
plugins-test-gimp2-dialog: plugins-gimp2
	t=$(GIMP2_UI_T); rm -rf $$t; mkdir -p $$t/home/.config/GIMP/2.10/plug-ins $$t/home/.config/GIMP/2.10/gradients $$t/out $$t/run; chmod 700 $$t/run
	cp -a $(GIMP2_DIR) $$t/home/.config/GIMP/2.10/plug-ins/
	cat > $$t/ui.sh <<'EOS'
	gimp-2.10 -n -d -f -s --batch-interpreter plug-in-script-fu-eval -b '(let* ($(GIMP2_LOAD) (drw (car (gimp-image-get-active-drawable img)))) (plug-in-lichtbild-headshot RUN-NONINTERACTIVE img drw "bewerbung-45x60" "$(PLUGINS_BG)" 0.0 1 0 1) (let ((new (car (plug-in-lichtbild-headshot RUN-INTERACTIVE img drw "" "" 0.0 0 0 1)))) $(call GIMP2_SAVE,new,dialog.png,$(GIMP2_UI_T))) (gimp-quit 1))' &
	for i in $$(seq 150); do w=$$(xdotool search --name '^Headshot \(lichtbild\)$$' 2>/dev/null | head -n1); [ -n "$$w" ] && break; sleep 1; done
	[ -n "$$w" ] || { echo "the dialog did not open" >&2; kill %1; exit 1; }
	xdotool windowactivate --sync $$w 2>/dev/null || true
	sleep 1; xdotool key --window $$w alt+a; sleep 0.5; xdotool key --window $$w alt+o
	for i in $$(seq 120); do [ -s $(GIMP2_UI_T)/out/dialog.png ] && break; sleep 1; done
	sleep 2; kill %1 2> /dev/null || true  # if GIMP's UI has not quit by itself
	wait
	EOS
	$(PLUGINS_ENV) timeout 300 xvfb-run -a -s '-screen 0 1280x1024x24' bash $$t/ui.sh > $$t/gimp.log 2>&1 || true
	$(PLUGINS_CHECK) $$t/out/dialog.png 531 709 '$(PLUGINS_BG)'
	echo "gimp 2.10 dialog: ok"

plugins-test: plugins-test-krita plugins-test-gimp2 plugins-test-gimp2-dialog

# GIMP 3.0 and Krita 5.2 come from Debian 13 (trixie), in a chroot made with debootstrap the first
# time (a few minutes), then reused. plugins/tests/chroot-run.sh mounts /proc, /sys, /dev only
# for each command, always unmounts, and kills the command after a timeout.
TRIXIE := target/trixie-root
TRIXIE_APT := gimp krita python3 python3-pyqt5 python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4
CHROOT = plugins/tests/chroot-run.sh $(TRIXIE)

$(TRIXIE)/.ok: | .plugins-deps.ok
	if [ ! -e $(TRIXIE)/etc/debian_version ]; then
	  rm -rf --one-file-system $(TRIXIE).partial
	  $(SUDO) timeout 1200 debootstrap --variant=minbase trixie $(TRIXIE).partial http://deb.debian.org/debian
	  mv $(TRIXIE).partial $(TRIXIE)
	fi
	$(CHROOT) 600 apt-get update -qq
	$(CHROOT) 1800 apt-get install -y -qq --no-install-recommends $(TRIXIE_APT)
	touch $@
trixie-chroot: $(TRIXIE)/.ok

# Krita 5.2: the same batch script as for 5.1, run by trixie's kritarunner.
plugins-test-krita52: plugins-krita $(TRIXIE)/.ok
	t=$(TRIXIE)/tmp/lb-krita; rm -rf $$t; mkdir -p $$t/home/.local/share/krita/pykrita $$t/out $$t/run $$t/tests; chmod 700 $$t/run
	cp plugins/tests/krita_batch.py $$t/tests/ && cp $(PLUGINS_PHOTO) $$t/photo.jpg && cp $(PLUGINS_OUT)/lichtbild-krita.zip $$t/
	c=/tmp/lb-krita
	$(CHROOT) 60 python3 /usr/share/krita/pykrita/plugin_importer/plugin_importer.py $$c/lichtbild-krita.zip $$c/home/.local/share/krita
	start=$$(date +%s)
	$(CHROOT) 300 env HOME=$$c/home XDG_RUNTIME_DIR=$$c/run QT_QPA_PLATFORM=offscreen PYTHONPATH=$$c/tests \
	  kritarunner -s krita_batch -f main $$c/home/.local/share/krita/pykrita $$c/photo.jpg $$c/out '$(PLUGINS_BG)' > $$t/krita.log 2>&1 || true
	echo "kritarunner (trixie) took $$(( $$(date +%s) - start )) s (log: $$t/krita.log)"
	$(KRITA_CHECKS)
	echo "krita $$($(CHROOT) 60 krita_version 2>/dev/null | head -n1): ok ($$(cat $$t/out/no-consent.txt))"

# GIMP 3.0: python-fu-eval runs plugins/tests/gimp3_batch.py, which calls the procedure via the PDB.
plugins-test-gimp3: plugins-gimp3 $(TRIXIE)/.ok
	t=$(TRIXIE)/tmp/lb-gimp3; rm -rf $$t; mkdir -p $$t/home/.config/GIMP/3.0/plug-ins $$t/out $$t/run; chmod 700 $$t/run
	cp -a $(GIMP3_DIR) $$t/home/.config/GIMP/3.0/plug-ins/
	cp $(PLUGINS_PHOTO) $$t/photo.jpg
	start=$$(date +%s)
	c=/tmp/lb-gimp3
	$(CHROOT) 300 env HOME=$$c/home XDG_RUNTIME_DIR=$$c/run LB_TEST_DIR=$$c LB_TEST_BG='$(PLUGINS_BG)' \
	  gimp-console-3.0 -i -d -f --batch-interpreter python-fu-eval -b - \
	  < plugins/tests/gimp3_batch.py > $$t/gimp.log 2>&1 || true
	echo "gimp-console-3.0 (trixie) took $$(( $$(date +%s) - start )) s (log: $$t/gimp.log)"
	if [ -e $$t/out/crash.txt ]; then cat $$t/out/crash.txt $$t/gimp.log >&2; exit 1; fi
	$(PLUGINS_CHECK) $$t/out/document.png 531 709 '$(PLUGINS_BG)'
	$(PLUGINS_CHECK) $$t/out/layer.png 531 709 '$(PLUGINS_BG)'
	grep -q '^execution-error: lichtbild: consent' $$t/out/no-consent.txt || { cat $$t/out/no-consent.txt $$t/gimp.log; exit 1; } >&2
	grep -q "GIMP-Error: Calling error for procedure 'plug-in-lichtbild-headshot'" $$t/gimp.log
	$(PLUGINS_CHECK) --same $$t/out/before.png $$t/out/no-consent.png
	echo "gimp 3: ok ($$(cat $$t/out/no-consent.txt))"

plugins-test-trixie: plugins-test-krita52 plugins-test-gimp3

TEST_TARGETS += plugins-test plugins-test-trixie
