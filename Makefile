# smtpscope — make targets. Every target that builds or tests first runs
# scripts/setup.sh, which installs missing Debian packages.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/smtpscope
SAMPLE := testdata/scenarios/captures/relay-stall.pcapng

.PHONY: all setup build demo test test-short fuzz scenarios bench clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o $(BIN) ./cmd/smtpscope

# demo: the seed incident — the relay never answers a 1 MB message's
# end-of-data. Exit status 1 means "analysed, failure found", as intended.
demo: build
	@./$(BIN) analyze $(SAMPLE); status=$$?; [ $$status -le 1 ] || exit $$status

# test: everything CI runs — formatting, vet, the pure-Go (CGO_ENABLED=0)
# builds for linux, windows and darwin, the cgo build, and all tests.
# TESTFLAGS adds go test flags (.ci/run passes -v to see every test).
test: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './testdata/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	CGO_ENABLED=0 GOOS=windows $(GO) build -o /dev/null ./...
	CGO_ENABLED=0 GOOS=darwin $(GO) build -o /dev/null ./...
	CGO_ENABLED=1 $(GO) build -o /dev/null ./...
	$(GO) test -count=1 -timeout 30m $(TESTFLAGS) ./...

# fuzz: run every fuzz target for FUZZTIME each.
FUZZTIME ?= 1m
fuzz: setup
	@for pkg in ./capture ./reassembly ./smtp ./mtalog ./tlskeys ./tlsrecord ./events ./pipeline ./report ./bench; do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    echo "== $$pkg $$t"; $(GO) test $$pkg -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) || exit 1; \
	  done; \
	done

# scenarios: regenerate the fault lab captures (needs root).
scenarios: setup
	testdata/scenarios/make-all.sh

# bench: smtpscope beside tshark, tcptrace and the floor loop on a synthetic
# capture (BENCH_SIZE, default 1G; BENCH_SIZE=100M for a quick run), and a
# check of its outcomes against the generator's expectations.
BENCH_SIZE ?= 1G
bench: setup
	BENCH_SIZE=$(BENCH_SIZE) scripts/bench.sh

clean:
	rm -rf bin
