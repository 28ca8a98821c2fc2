# session-manager — every target installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_BIN := node_modules/.bin
APT_PACKAGES := etcd-server etcd-client python3-grpcio python3-protobuf prometheus nghttp2-client openssl faketime
MOCHA := $(NODE_BIN)/mocha --timeout 60000 --slow 2000 --exit
LISTEN ?= 127.0.0.1:50051
ETCD_ENDPOINT ?= http://127.0.0.1:2379

.PHONY: help deps system-deps build generate check-generated lint-proto test test-unit test-integration test-chart run stop-etcd clean

help:
	@echo "make run    start local etcd (.data/) and one node on $(LISTEN)"
	@echo "make test   the whole test suite"
	@echo "make build | generate | lint-proto | check-generated | test-unit | test-integration | test-chart | clean"

# System packages: one apt-get update, then install what is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# `npm install`, not `npm ci`: the lock lists optional platform binaries of @bufbuild/buf (darwin,
# win32, armv7) that the registry mirror here does not serve, and `npm ci` refuses a lock it cannot
# fully satisfy. With the lock present, `npm install` still installs its exact versions.
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

deps: system-deps node_modules/.package-lock.json

build: node_modules/.package-lock.json
	$(NODE_BIN)/tsc -p tsconfig.json

# Regenerates src/gen from proto/ with buf + ts-proto (both from npm).
generate: node_modules/.package-lock.json
	rm -rf src/gen
	$(NODE_BIN)/buf generate proto --template proto/buf.gen.yaml

lint-proto: node_modules/.package-lock.json
	cd proto && ../$(NODE_BIN)/buf lint

# Fails when the committed generated code differs from a fresh generation.
check-generated: node_modules/.package-lock.json
	@tmp=$$(mktemp -d); \
	sed "s#out: src/gen#out: $$tmp/gen#" proto/buf.gen.yaml > $$tmp/buf.gen.yaml; \
	$(NODE_BIN)/buf generate proto --template $$tmp/buf.gen.yaml && \
	if diff -r $$tmp/gen src/gen >/dev/null; then echo "generated code is up to date"; rm -rf $$tmp; \
	else diff -r $$tmp/gen src/gen | head -20; echo "src/gen is stale: run 'make generate' and commit"; rm -rf $$tmp; exit 1; fi

test-unit: build
	$(MOCHA) 'dist/test/unit/**/*.test.js'

test-integration: deps build
	$(MOCHA) 'dist/test/integration/**/*.test.js'

# Traces, metrics and logs against real etcd and gRPC. setup.js starts the OpenTelemetry SDK before
# grpc-js loads; write `--import=FILE`: mocha 10 takes `--import FILE` for a flag and runs no tests.
.PHONY: test-telemetry
test-telemetry: deps build
	$(MOCHA) --import=./dist/test/telemetry/setup.js 'dist/test/telemetry/**/*.test.js'

test-chart: node_modules/.package-lock.json
	bash test/chart/run.sh

# Measurement and robustness suites (docs/faults.md, docs/PERFORMANCE.md). test-interop and
# test-property are fast; test-faults takes a few minutes; bench and soak are not part of make test.
.PHONY: test-interop test-property test-faults bench bench-deps soak
MOCHA_FAULTS := $(NODE_BIN)/mocha --timeout 300000 --slow 30000 --exit
BENCH_APT_PACKAGES := nghttp2-client

test-interop: deps build
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

# 10 minutes of mixed load, sampled into docs/soak.csv (SOAK_SECONDS to change the length).
soak: deps build
	@command -v gnuplot >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gnuplot-nox >/dev/null; }
	node dist/bench/soak.js
	node dist/bench/soak-report.js

test: deps lint-proto check-generated build
	$(MOCHA) 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js'
	$(MAKE) --no-print-directory test-telemetry test-property test-interop test-chart

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
	@[ -s .data/admin-token ] || (head -c 24 /dev/urandom | base64 | tr '+/' '-_' > .data/admin-token && chmod 600 .data/admin-token)
	@echo ""
	@echo "session-manager on $(LISTEN). In another terminal:"
	@echo "  npx sessionctl create --site default --user alice --type web --device laptop"
	@echo "  npx sessionctl validate <sessionId>"
	@echo "  npx sessionctl heartbeat <sessionId> --instance tab-1"
	@echo "  npx sessionctl end <sessionId>"
	@echo "  npx sessionctl --token-file .data/admin-token status      (admin calls)"
	@echo "Ctrl-C stops the node; 'make stop-etcd' stops the local etcd."
	@echo ""
	node dist/src/main.js --listen $(LISTEN) --etcd-endpoints $(ETCD_ENDPOINT) \
	  --node-id local --admin-token-file .data/admin-token

stop-etcd:
	@if [ -f .data/etcd.pid ]; then kill $$(cat .data/etcd.pid) 2>/dev/null || true; rm -f .data/etcd.pid; echo "etcd stopped"; fi

clean:
	rm -rf dist .tools
