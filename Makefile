# The RabbitMQ tutorials in Go. `make` alone lists the targets.
#
# The broker is the one at AMQP_URL (default amqp://guest:guest@localhost:5672/); `make broker` starts
# one when nothing answers there: with docker compose where a Docker engine runs, else as a local node
# of Debian's rabbitmq-server with its data under .broker/.

SHELL := bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
export PATH := $(PATH):/usr/local/go/bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

.PHONY: broker
broker: ## make sure a broker answers at AMQP_URL (starts one if needed)
	@scripts/broker.sh start

.PHONY: broker-stop
broker-stop: ## stop the broker that `make broker` started
	@scripts/broker.sh stop

.PHONY: broker-restart
broker-restart: ## stop and start the broker that `make broker` started (a full restart)
	@scripts/broker.sh restart

.PHONY: build
build: ## build every program
	$(GO) build ./...

.PHONY: demo
demo: broker ## run every tutorial end to end against the broker
	@scripts/demo.sh

.PHONY: vet
vet: ## go vet, and gofmt must have nothing to change
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

.PHONY: lint
lint: vet ## vet plus staticcheck
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: test
test: broker vet ## start the broker if needed, vet, and run all tests with -race
	$(GO) test -race -count=1 -p 1 ./...

.PHONY: guides
guides: ## rewrite the guides' code blocks (*/README*.md) from the programs' marked regions
	$(GO) run ./internal/guide/cmd/guides -write

.PHONY: bench
bench: broker ## run the benchmarks (publisher confirms against the no-confirm baseline)
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 5 ./...
