# edgeway: `make run` starts the gateway, `make test` runs everything.
# Both install what they need by themselves (Debian packages via apt-get,
# Go tools into ./bin, the real Ollama into ~/.cache/edgeway).

SHELL      := /bin/bash
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
GOBUILD    := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
BIN        := bin
FUZZTIME   ?= 1m
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CACHE      := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/edgeway

# Packages with goroutines of their own: these run under the race detector.
RACE_PKGS  := ./edge/router/... ./edge/server/... ./edge/openai/... ./edge/upstream/... ./edge/cache/... ./edge/keys/... ./edge/limits/... ./edge/audit/... ./edge/pii/... ./sync/... ./runtime/... ./cmd/...

.PHONY: all run build cross test vet unit race fuzz fuzz-smoke ollama test-ollama glove test-glove e2e armsmoke bench demo demo-stop clean tools prices

all: build

## run: build and start the gateway (config: $EDGEWAY_CONFIG, else built-in defaults)
run: build
	./$(BIN)/edgeway serve $(if $(CONFIG),--config $(CONFIG))

## build: the host binary in bin/edgeway
build:
	$(GOBUILD) -o $(BIN)/edgeway ./cmd/edgeway

## cross: static binaries for linux/arm64, linux/arm (v7) and linux/amd64
cross:
	VERSION=$(VERSION) scripts/cross.sh $(BIN)

## test: vet, unit tests, race detector, fuzz smoke, real Ollama, openai-go e2e, arm64 under qemu
test: vet unit race fuzz-smoke test-ollama test-glove e2e cross armsmoke
	@echo "make test: all passed"

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	cd e2e && go vet ./...

unit:
	go test -count=1 ./...

race:
	go test -count=1 -race $(RACE_PKGS)

## fuzz: every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m); time-based, so not in make test
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# fuzz-smoke: every fuzz target for a fixed count of inputs, not a duration:
# a 3 s -fuzztime once missed the coordinator's deadline on a loaded 2-core
# box (FuzzDecodeGenerateRequest: context deadline exceeded).
fuzz-smoke:
	FUZZTIME=500x scripts/fuzz.sh

## ollama: build the real Ollama once (~8 min) into $(CACHE)
ollama:
	@scripts/build-ollama.sh >/dev/null

## glove: the word vectors for the semantic cache's quality tests and the glove embedder (~30 s once)
glove:
	@scripts/glove.sh >/dev/null

test-glove: glove
	EDGEWAY_GLOVE=$$(scripts/glove.sh) EDGEWAY_REQUIRE_GLOVE=1 go test -count=1 ./edge/glove/... ./edge/cache/guard/

test-ollama: ollama
	EDGEWAY_OLLAMA_BIN=$$(scripts/build-ollama.sh) EDGEWAY_REQUIRE_OLLAMA=1 go test -count=1 ./runtime/ollama/...

## e2e: the official openai-go client against the edgeway binary (own module: the SDK is heavy to compile)
e2e: build ollama
	cd e2e && EDGEWAY_BIN=$(CURDIR)/$(BIN)/edgeway EDGEWAY_OLLAMA_BIN=$$($(CURDIR)/scripts/build-ollama.sh) EDGEWAY_REQUIRE_OLLAMA=1 \
		EDGEWAY_AGENTS=$$($(CURDIR)/scripts/agents.sh) EDGEWAY_REQUIRE_AGENTS=1 go test -count=1 ./...

## armsmoke: the arm64 and armv7 binaries under qemu-user answer a chat completion
armsmoke:
	scripts/armsmoke.sh

## bench: Go benchmarks (-benchmem) and a load run through edgeway vs the bare upstream
bench: build glove
	EDGEWAY_GLOVE=$$(scripts/glove.sh) go test -run='^$$' -bench=. -benchmem ./edge/... ./runtime/...
	go run ./scripts/bench -edgeway $(BIN)/edgeway

## demo: real Ollama + a tiny model + edgeway in front, left running (stop: make demo-stop)
demo: build ollama
	scripts/demo.sh start

demo-stop:
	scripts/demo.sh stop

## prices: regenerate the embedded price table from the pinned npm catalog (see scripts/prices/gen.sh)
prices:
	scripts/prices/gen.sh

clean:
	rm -rf $(BIN) data
