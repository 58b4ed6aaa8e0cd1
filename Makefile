# engram: build, test, benchmark, fuzz.
#
#   make test    everything CI runs: gofmt, vet, staticcheck, go test -race
#   make bench   the benchmarks quoted in BENCHMARKS.md
#   make fuzz    each fuzz target for FUZZTIME (default 10s)

GO          ?= go
# Tools are pinned by module version in tools/go.mod and built into .bin/ (ignored by git),
# so a fresh clone needs nothing installed by hand and nothing on PATH.
BIN         := $(CURDIR)/.bin
STATICCHECK := $(BIN)/staticcheck
# The S3-protocol server the blob tests start (a module of its own: its dependencies are many).
VERSITYGW   := $(BIN)/versitygw
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
PKGS        ?= ./...

.PHONY: all build test fmt-check vet staticcheck deps unit pg bench fuzz tools clean

all: build

build:
	$(GO) build ./...

test: fmt-check vet staticcheck deps pg

# Debian packages the integration tests run (strace, ...): installed when missing.
deps:
	@scripts/test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck: tools
	$(STATICCHECK) $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# The unit tests with a throwaway PostgreSQL 15 on 127.0.0.1 (its URL in
# ENGRAM_TEST_POSTGRES), stopped when they end however they end.
pg:
	scripts/pg-run.sh $(MAKE) --no-print-directory unit

tools: $(STATICCHECK) $(VERSITYGW)

$(STATICCHECK): tools/go.mod tools/go.sum
	cd tools && GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck

$(VERSITYGW): tools/versitygw/go.mod tools/versitygw/go.sum
	cd tools/versitygw && GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# The vector index beside hnswlib-node on 100,000 x 384 vectors (minutes;
# installs hnswlib-node under .bin/hnswlib on first use). Not run by test or bench.
.PHONY: bench-vector
bench-vector:
	scripts/bench-vector.sh

# engram beside C SQLite, Redis, a plain net/http handler and a plain SELECT,
# in one run, with the ratios (a few minutes; installs redis-server when
# missing). Not run by test or bench.
.PHONY: bench-compare
bench-compare:
	scripts/bench-compare.sh

# Every FuzzXxx function in the module, each for FUZZTIME.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for fn in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
			echo "== $$dir $$fn"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

clean:
	rm -rf engram-data
