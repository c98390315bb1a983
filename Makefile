# The two commands a new user needs:  make run   and   make test.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
BIN := bin

.PHONY: run test bench profile build lint fuzz duplicates tools docker clean

## run: the embedded default — in-process broker, sandbox APIs, sample traffic, every pipeline, live progress (Ctrl-C for the summary)
run:
	$(GO) run ./cmd/demo -ops 127.0.0.1:8080

## test: every test with the race detector (installs kcat, Java 17 and Maven, and fetches the Kafka jars, when missing)
test: tools
	REQUIRE_KCAT=1 REQUIRE_KAFKA=1 $(GO) test -race -count=1 -timeout 20m ./...

## bench: the connector as its own process against broker and sandbox processes, one table of figures beside targets (~12 min)
bench:
	@./.ci/bench

## profile: CPU, allocation and heap profiles of the connector process in the events benchmark, in out/profile/
profile:
	@./.ci/bench -profile out/profile

## build: static binaries in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/ ./cmd/...

## lint: formatting and vet
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 10s $$pkg || exit 1; \
	  done; done

## duplicates: the workplace's duplicates tool over the tracked tree, as written and with Go's grouped imports passed over (.ci/duplicates [REV] for another commit)
duplicates:
	@./.ci/duplicates

## tools: what the tests need beyond Go: kcat (a librdkafka client, for the outside-client test); Java 17 and Maven, and the Kafka jars Maven fetches into ~/.cache (for the real brokers of internal/kafkatest)
tools:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	java_major=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1); \
	[ "$${java_major:-0}" -ge 17 ] || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null 2>&1 || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=$$(command -v sudo >/dev/null && [ $$(id -u) -ne 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@libs=$$(./deploy/kafka/fetch.sh) && echo "kafka jars: $$libs"

docker:
	docker build -t contactlab-connector .

clean:
	rm -rf $(BIN)
