# lvsnode: the two commands a new machine needs are `make demo` and `make test`.
GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)
# Tests build the binary with `go` too: keep the toolchain on PATH.
export PATH := $(dir $(GO)):$(PATH)
BIN       := bin/lvsnode
GOTESTSUM := $(shell $(GO) env GOPATH)/bin/gotestsum
export CGO_ENABLED = 0

.PHONY: all build man deb lab-bin pkgtools demo test unit e2e bench bench-pair tools clean

# The version `lvsnode version` reports and the packages carry.
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

all: build

# One static binary; product code never shells out to ip/sysctl/ipvsadm.
build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/lvsnode

# The man pages and completion scripts, generated from the command tree
# (the package carries the same, made by packaging/mkdeb).
man: build
	$(BIN) generate man dist/man
	$(BIN) generate bash >dist/lvsnode.bash
	$(BIN) generate zsh >dist/_lvsnode

# dist/lvsnode_<version>_amd64.deb and _arm64.deb (nfpm as a Go library,
# packaging/ is its own module). DEB_ARCH=amd64 for one.
DEB_ARCH ?= amd64 arm64
deb:
	cd packaging && $(GO) run ./mkdeb -root .. -out ../dist -version $(VERSION) $(addprefix -arch ,$(DEB_ARCH))

# The lab runs the binary the amd64 package contains: build the package,
# take /usr/bin/lvsnode out of it as bin/lvsnode, and tell lab/run not to
# rebuild (LVSNODE_LAB_NOBUILD=1).
lab-bin:
	set -e; deb=$$(cd packaging && $(GO) run ./mkdeb -root .. -out ../dist -version $(VERSION) -arch amd64); \
	tmp=$$(mktemp -d); dpkg-deb -x "$$deb" "$$tmp"; mkdir -p $(dir $(BIN)); \
	install -m 0755 "$$tmp/usr/bin/lvsnode" $(BIN); rm -rf "$$tmp"; echo "$(BIN) from $$deb"

# The package tests need lintian, man, zsh and systemd-analyze (systemd:
# the examples' and the package's unit checks), and run as root; bird
# (bird2) parses examples/bird/ (skipped without it).
pkgtools:
	@command -v lintian >/dev/null && command -v man >/dev/null && command -v zsh >/dev/null && command -v systemd-analyze >/dev/null && command -v bird >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq lintian man-db zsh systemd bird2 >/dev/null; } || \
	echo "lintian, man-db, zsh, systemd, bird2 missing and not root: the package tests will say so"

$(GOTESTSUM):
	$(GO) install gotest.tools/gotestsum@v1.12.3

tools: $(GOTESTSUM)

# The main job: a whole cluster in the real-kernel lab.
demo: lab-bin
	LVSNODE_LAB_NOBUILD=1 bash lab/run demo

# Every test: unit tests, root-only netns integration tests (CI fails rather
# than skips them: LVSNODE_REQUIRE_ROOT_TESTS=1), and the lab scenarios.
test: unit bench e2e

unit: tools pkgtools
	$(GO) vet ./...
	$(GOTESTSUM) --format testname -- -count=1 ./...
	cd packaging && $(GO) vet ./... && $(GOTESTSUM) --format testname -- -count=1 ./...

e2e: lab-bin
	LVSNODE_LAB_NOBUILD=1 bash lab/run e2e

# Agent benchmarks, in a private network namespace (unshare -n) so they
# never touch the host's addresses or sysctls. BENCHTIME=20x for a quick run.
BENCHTIME ?= 50x
bench:
	unshare --net sh -c 'ip link set lo up && LVSNODE_BENCH_NETNS=1 $(GO) test -p 1 -run "^$$" -bench . -benchtime $(BENCHTIME) ./agent/ ./cmd/lvsnode/' 

# lvsnode's director daemon against keepalived in one lab VM run (not in
# `make test`: ~5 min under TCG, figures and ratios, no pass/fail on time).
bench-pair: build
	bash lab/run script lab/bench/pair-vs-keepalived.sh

clean:
	rm -rf bin dist
