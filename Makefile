# Torii: every entry point. See README.md.
GO        ?= go
BIN       ?= bin/torii
FUZZTIME  ?= 60s
# FUZZFLAGS: one fuzz worker by default (the machine's cores are shared), and new inputs
# minimized for 10 s rather than 60: targets with a server on goroutines (core FuzzH2Conn) have
# nondeterministic coverage, so minimizing ran the whole 60 s at 0 execs/s. FUZZPKGS narrows the
# packages, e.g. make fuzz FUZZPKGS='./core/h2 ./core' FUZZTIME=5m for the HTTP/2 targets.
FUZZFLAGS ?= -parallel 1 -fuzzminimizetime 10s
FUZZPKGS  ?= ./...
TESTFLAGS ?=

.PHONY: run build test test-race check fuzz bench bench-scale bench-scale-import bench-scale-start bench-compare bench-tls bench-grpc h2spec screenshots deps-test clean cluster-demo test-cluster soak soak-h2 soak-tls fdlimit

run: build
	./$(BIN) serve --listen-tls :8443

build:
	$(GO) build -o $(BIN) ./cmd/torii

# deps-test installs what the tests need on a Debian machine (see tools/deps.sh).
deps-test:
	@bash tools/deps.sh

test: deps-test
	$(GO) test -shuffle=on -count=1 -timeout 14m $(TESTFLAGS) ./...

test-race: deps-test
	$(GO) test -race -shuffle=on -count=1 -timeout 20m $(TESTFLAGS) ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod is not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# fuzz runs every Fuzz target of every package for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(FUZZPKGS)); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# bench-scale measures Torii at 100k routes and 1M API keys (issue 15): admin write latency to the
# proxy, heap per route and key, start time (admin.TestScale), then the UI's route and key lists in
# Chromium (ui.TestBrowserScale). Long: about 15 minutes on 2 shared cores. SCALE=routes,keys.
SCALE ?= 100000,1000000
bench-scale: deps-test
	TORII_SCALE=$(SCALE) $(GO) test -count=1 -v -timeout 60m -run '^TestScale$$' ./admin/
	TORII_UI_SCALE=$(SCALE) $(GO) test -count=1 -v -timeout 60m -run '^TestBrowserScale$$' ./ui/

# bench-scale-import measures the memory of torii serve importing a generated export of 1,000
# routes and 1M keys through POST /api/otoroshi.json (issue 15, "Import and export stream"): peak
# RSS (VmHWM) against the RSS after the import and after a restart on it; BEFORE=<git ref> measures
# that commit too, in the same run (BENCHMARKS.md used BEFORE=4bf2241). About 10 minutes.
bench-scale-import:
	KEYS=1000000 ROUTES=1000 bash bench/import-rss.sh

# bench-scale-start times torii serve from process start to serving (admin API and proxy) on a
# generated data directory of 100k routes and 1M keys (issue 15, "Startup"); BEFORE=<git ref>
# measures that commit too, interleaved. Generating the data takes minutes; DIR keeps it.
bench-scale-start:
	ROUTES=100000 KEYS=1000000 ROUNDS=2 bash bench/scale-start.sh

# bench-compare measures Torii against nginx and HAProxy (installed from Debian when missing,
# as root) and rewrites its section of BENCHMARKS.md, HTTPS scenarios included (its "tls" phase
# runs bench/tls-compare.sh), HTTP/2 ("h2": bench/h2-compare.sh, about 1.5 minutes) and gRPC
# ("grpc": bench/grpcbench, about 1 minute). About 11 minutes; see bench/README.md.
bench-compare:
	$(GO) run ./bench/compare $(COMPAREFLAGS)

# bench-grpc measures gRPC unary calls/s through Torii against direct calls (issue 18).
bench-grpc:
	$(GO) run ./bench/grpcbench

# bench-tls compares HTTPS against nginx and HAProxy (h2load --h1; see BENCHMARKS.md).
TLS_ROUNDS ?= 3
bench-tls:
	bash bench/tls-compare.sh $(TLS_ROUNDS)

# h2spec runs the HTTP/2 conformance suite against --listen-tls (h2) and --listen (h2c); see
# BENCHMARKS.md for the score and the cases that fail by design.
h2spec:
	bash bench/h2spec.sh -v

# soak runs the endurance test for SOAK_DURATION (10 minutes) and writes its table to
# SOAK_REPORT; make test runs the same test for 60 s. See soak/doc.go.
SOAK_DURATION ?= 10m
SOAK_REPORT   ?= soak-report.md
soak:
	SOAK_DURATION=$(SOAK_DURATION) SOAK_REPORT=$(abspath $(SOAK_REPORT)) $(GO) test -count=1 -timeout 30m -run '^TestSoak$$' -v ./soak/

# soak-h2 sends random HTTP/2 frame scripts to an engine for H2SOAK over h2c
# (core.TestH2FuzzSoak), then for H2SOAK over TLS on the loops' record layer, some connections
# ending abruptly (core.TestH2FuzzSoakTLS): the server stays up, a neighbour connection keeps
# being served, every connection, stream and goroutine goes, the heap stays bounded.
H2SOAK ?= 5m
soak-h2:
	TORII_H2SOAK=$(H2SOAK) $(GO) test -count=1 -timeout 60m -run '^TestH2FuzzSoak(TLS)?$$' -v ./core/

# soak-tls runs random HTTP/1.1 exchanges over TLS on the loops' record layer for TLSSOAK
# (core.TestTLSLoopSoak): keep-alive and pipelined requests with bodies both ways, 64 KiB
# responses to clients that read slowly or stop reading, uploads to a slow backend, WebSocket
# tunnels, connections ending abruptly (close_notify, TCP close, truncated or garbage record,
# half-close); every response read must be its own request's, a neighbour keeps being served,
# every connection, TLS link and goroutine goes, the heap stays bounded.
TLSSOAK ?= 5m
soak-tls:
	TORII_TLSSOAK=$(TLSSOAK) $(GO) test -count=1 -timeout 60m -run '^TestTLSLoopSoak$$' -v ./core/

# fdlimit holds FDLIMIT_CONNS idle keep-alive connections (default 20000) against torii
# serve run with an RLIMIT_NOFILE of FDLIMIT_CONNS (as root: it raises its own limit), and
# checks that torii keeps serving. See cmd/torii/fdlimit_test.go.
FDLIMIT_CONNS ?= 20000
fdlimit:
	TORII_FDLIMIT_CONNS=$(FDLIMIT_CONNS) $(GO) test -count=1 -timeout 10m -run '^TestFDLimitAtScale$$' -v ./cmd/torii/

# screenshots regenerates docs/screenshots/ from the browser test.
screenshots: deps-test
	TORII_SCREENSHOTS=1 $(GO) test -count=1 -run TestBrowser ./ui/

clean:
	rm -rf bin

# cluster-demo runs redis-server, a leader and three workers on 127.0.0.1:8081-8083 with the demo
# route, prints what to curl, and stops everything on Ctrl-C (tools/cluster-demo.sh).
cluster-demo: build deps-test
	@bash tools/cluster-demo.sh

# test-cluster runs the long cluster tests over real processes: exact quotas through 3 workers,
# 100 propagations, leader and Redis outages (about a minute; make test runs the short ones).
test-cluster: deps-test
	TORII_CLUSTER_LONG=1 $(GO) test -count=1 -v -timeout 10m ./cluster/...
