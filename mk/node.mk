# The npm package `lichtbild` (bindings-node/): build the addon with the napi CLI, check that the
# generated loader and TypeScript declarations are committed, pack it, install the tarball into a
# scratch project like a user would, and run the node --test suite and the example against that.
#
# ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's postinstall would fetch extras from a host
# outside the package registry; its bundled CPU library (all we use) is in the npm tarball itself.

NODE_DIR := bindings-node
NODE_SCRATCH := target/node-scratch
NODE_NPM := ONNXRUNTIME_NODE_INSTALL=skip npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm
NODE_TS_DEPS := typescript@5.9.3 @types/node@20.19.43

.PHONY: node-deps node-build node-pack node-test

TEST_TARGETS += node-test

# Recipes run in one shell (.ONESHELL): a `cd` holds for the rest of the recipe.

$(NODE_DIR)/node_modules/.ok: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && $(NODE_NPM) ci
	touch $(abspath $@)

node-deps: $(NODE_DIR)/node_modules/.ok

# napi build runs cargo for the host triple (target/x86_64-unknown-linux-gnu/release) and writes
# lichtbild.<platform>.node, binding.js and index.d.ts; the last two must match what is committed.
node-build: node-deps sys-deps
	cd $(NODE_DIR) && npx napi build --release --platform --js binding.js --dts index.d.ts
	# Stripped after the build: napi's --strip changes RUSTFLAGS and would rebuild every crate.
	strip --strip-unneeded lichtbild.*.node
	git diff --exit-code -- index.d.ts binding.js \
	  || { echo "$(NODE_DIR): the generated index.d.ts / binding.js changed: commit them"; exit 1; }

node-pack: node-build
	rm -rf $(NODE_SCRATCH) && mkdir -p $(NODE_SCRATCH)
	cd $(NODE_DIR) && npm pack --silent --pack-destination $(abspath $(NODE_SCRATCH)) > /dev/null
	ls -l $(abspath $(NODE_SCRATCH))/lichtbild-*.tgz

# A fresh project that knows nothing of this repository but the tarball; ORT_DYLIB_PATH is unset
# so the library is found the way a user's install finds it (onnxruntime-node). sys-deps: the
# sealing tests make their keys with the real `age-keygen`.
node-test: node-pack sys-deps
	cd $(NODE_SCRATCH)
	echo '{ "name": "lichtbild-scratch", "private": true }' > package.json
	$(NODE_NPM) install --prefer-offline --no-save ./lichtbild-*.tgz $(NODE_TS_DEPS) > /dev/null
	cp -r $(abspath $(NODE_DIR))/test ./test
	mkdir -p examples && cp -r $(abspath examples/node) examples/node
	export LICHTBILD_FIXTURES=$(abspath tests/fixtures) UV_THREADPOOL_SIZE=1
	unset ORT_DYLIB_PATH
	node --test --test-reporter=spec --test-concurrency=1 test/*.test.js test/*.test.mjs
	npx tsc -p test/types/tsconfig.json
	echo "node-test: tsc --strict --noEmit: test/types/usage.ts type-checks"
	node examples/node/headshot.js $$LICHTBILD_FIXTURES/grace_hopper.jpg example-headshot.jpg
	test -s example-headshot.jpg
