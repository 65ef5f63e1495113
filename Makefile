# The RabbitMQ tutorials in Go. `make` alone lists the targets.
#
# The broker is the one at AMQP_URL (default amqp://guest:guest@localhost:5672/); `make broker` starts
# one when nothing answers there: with docker compose where a Docker engine runs, else a local node
# with its data under .broker/: RabbitMQ 4.3 (Debian forky's, from a root that debootstrap makes), or
# with RABBITMQ_SERIES=4.0 Debian trixie's 4.0.5, or with RABBITMQ_SERIES=3.10 Debian bookworm's 3.10.8
# (scripts/broker.sh says more). The suite is tested on all three.

SHELL := bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
export PATH := $(PATH):/usr/local/go/bin
# The local node's RabbitMQ series: 4.3 (the default), 4.0 or 3.10. Unset, a port keeps the series it
# ran last.
RABBITMQ_SERIES ?=
export RABBITMQ_SERIES

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'
	@echo
	@echo "  AMQP_URL=...          the broker (default amqp://guest:guest@localhost:5672/); make broker makes"
	@echo "                        the user and vhost it names on a node it starts"
	@echo "  RABBITMQ_SERIES=4.0   the local node's RabbitMQ: 4.3 (the default), 4.0 or 3.10, all three tested, e.g."
	@echo "                        make test RABBITMQ_SERIES=3.10 AMQP_URL=amqp://guest:guest@localhost:5673/"
	@echo "  TUTORIALS_SLOW_TESTS=1 make test also runs the tests that take minutes (consumer timeouts)"

.PHONY: broker
broker: ## make sure a broker answers at AMQP_URL (starts RabbitMQ 4.3 if none does; see RABBITMQ_SERIES)
	@scripts/broker.sh start

.PHONY: broker-status
broker-status: ## say what answers at AMQP_URL: which RabbitMQ, and who started it
	@scripts/broker.sh status

.PHONY: broker-stop
broker-stop: ## stop the broker that `make broker` started
	@scripts/broker.sh stop

.PHONY: broker-restart
broker-restart: ## stop and start the broker that `make broker` started (a full restart)
	@scripts/broker.sh restart

.PHONY: cluster
cluster: ## start a local 3-node RabbitMQ 4.3 cluster (ports 5700-5702) for the Reliability tutorial
	@scripts/cluster.sh start

.PHONY: cluster-stop
cluster-stop: ## stop the cluster that `make cluster` started
	@scripts/cluster.sh stop

.PHONY: cluster-partition
cluster-partition: ## cut node N of the cluster off from the other two (N=2), a real network partition
	@scripts/cluster.sh partition $(N)

.PHONY: cluster-heal
cluster-heal: ## end every partition of the cluster
	@scripts/cluster.sh heal

.PHONY: test-cluster
test-cluster: ## the Reliability tutorial's tests that kill nodes of the local cluster and cut them off (make cluster first)
	AMQP_URL=amqp://guest:guest@localhost:5700/ $(GO) test -race -count=1 -run Cluster -v ./reliability/ 2>&1 | grep -v '^ *\[x\] Done'; exit $${PIPESTATUS[0]}

.PHONY: build
build: ## build every program
	$(GO) build ./...

.PHONY: demo
demo: broker ## run every tutorial end to end against the broker
	@scripts/demo.sh

.PHONY: vet
vet: ## go vet, and gofmt must have nothing to change
	$(GO) vet ./...
	cd internal/amqp10 && $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -path ./.broker -prune -o -name '*.go' -print)); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

.PHONY: lint
lint: vet ## vet plus staticcheck
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: test
test: broker vet ## start the broker if needed, vet, and run all tests with -race
	$(GO) test -race -count=1 -p 1 ./...
	@# The interoperability tests with the official AMQP 1.0 programs: a module of their own (./... stops
	@# at its go.mod), so that this one keeps amqp091-go as its only dependency. -v shows why they skip.
	cd internal/amqp10 && $(GO) test -count=1 -v ./...

.PHONY: guides
guides: ## rewrite the guides' code blocks (*/README*.md) from the programs they quote
	$(GO) run ./internal/guide/cmd/guides -write

.PHONY: bench
bench: broker ## run the benchmarks (confirm strategies, RPC, and with `make cluster` the cluster's)
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 5 ./...
