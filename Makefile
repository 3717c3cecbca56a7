# lvsnode: the two commands a new machine needs are `make demo` and `make test`.
GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)
# Tests build the binary with `go` too: keep the toolchain on PATH.
export PATH := $(dir $(GO)):$(PATH)
BIN       := bin/lvsnode
GOTESTSUM := $(shell $(GO) env GOPATH)/bin/gotestsum
export CGO_ENABLED = 0

.PHONY: all build demo test unit e2e bench bench-pair tools clean

all: build

# One static binary; product code never shells out to ip/sysctl/ipvsadm.
build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o $(BIN) ./cmd/lvsnode

$(GOTESTSUM):
	$(GO) install gotest.tools/gotestsum@v1.12.3

tools: $(GOTESTSUM)

# The main job: a whole cluster in the real-kernel lab.
demo: build
	bash lab/run demo

# Every test: unit tests, root-only netns integration tests (CI fails rather
# than skips them: LVSNODE_REQUIRE_ROOT_TESTS=1), and the lab scenarios.
test: unit bench e2e

unit: tools
	$(GO) vet ./...
	$(GOTESTSUM) --format testname -- -count=1 ./...

e2e: build
	bash lab/run e2e

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
	rm -rf bin
