# exrunbook — build, test and lint entry points. CI runs .ci/run, which
# installs the real peers (bind9, dig, nsupdate, pywinrm, tmux, openssl,
# an MIT Kerberos KDC, and pypsrp/pyspnego/gssapi from PyPI) and then
# `make test`. Pebble, the ACME test CA, comes from the Go module proxy.

GO                  ?= go
BIN                 ?= bin
FUZZTIME            ?= 10s
BENCHTIME           ?= 1s
# staticcheck 2026.2.2 (module version v0.8.2): the newest release that
# resolves through the module proxy and builds with Go 1.26.
STATICCHECK_VERSION ?= v0.8.2
# `exrunbook version` prints this.
VERSION             ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test lint fuzz bench clean

all: build

## build: both binaries (exrunbook and exlab) into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/ ./cmd/...

## test: every test, with a timeout that fits CI
test:
	$(GO) test -count=1 -timeout 20m ./...

## lint: gofmt (must list nothing), go vet, staticcheck
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l reports:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## fuzz: run every fuzz target for FUZZTIME (default 10s) each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

## bench: every benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

clean:
	rm -rf $(BIN)
