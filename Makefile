# The project's interface: each target is a line or two.
GO      ?= go
PKGS    := ./...
ADDR    ?= :8080

.PHONY: run build test test-race test-faults lint bench accuracy bench-system bench-fanout bench-batch fuzz web up down logs definitions

run: ## everything in one process on the embedded broker and store; dashboard on http://localhost:8080
	$(GO) run ./cmd/forecastd all --http-addr $(ADDR)

build:
	$(GO) build -o bin/forecastd ./cmd/forecastd

test: ## all tests; integration tests use RabbitMQ and Redis on localhost (skipped if absent unless CI=true)
	$(GO) test -count=1 -timeout 15m $(PKGS)

test-faults: ## the fault suite (faults/): each case on its own RabbitMQ node, Redis and processes; prints the table
	@r=$${TMPDIR:-/tmp}/forecastd-faults.md; rm -f $$r; FORECASTD_FAULTS_REPORT=$$r $(GO) test -count=1 -v -timeout 10m ./faults/; s=$$?; cat $$r 2>/dev/null; exit $$s

test-race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

accuracy: ## auto, ETS, ARIMA and Theta vs R's ets, auto.arima and thetaf on held-out data (docs/accuracy.md); prints the table
	$(GO) run ./cmd/accuracy

bench-system: ## the real-time path against local RabbitMQ and Redis: a gateway and 2 processors vs raw AMQP request/reply; prints the table
	cmd/loadgen/bench-system.sh $(BENCH_ARGS)

bench-fanout: ## live fan-out against local RabbitMQ and Redis: one model_ready to 10,000 WebSocket, then 9,000 WS + 9,000 SSE sessions; prints the table
	cmd/loadgen/bench-fanout.sh

bench-batch: ## a 3,000-series batch (method auto) offline vs a gateway with 1 and 2 processors on local RabbitMQ and Redis (BENCH_SERIES=N for fewer); prints the table
	cmd/loadgen/bench-batch.sh

fuzz: ## a minute each: the engine on random series (FuzzFit), request decoding on random bodies (FuzzDecodeRequest)
	$(GO) test -run '^$$' -fuzz FuzzFit -fuzztime 60s ./forecast/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime 60s ./messages/

web: ## the dashboard is plain files embedded in the binary; this checks it in headless Chromium
	web/e2e/run.sh

definitions: ## import the RabbitMQ topology into a local broker
	rabbitmqctl import_definitions "$(CURDIR)/deploy/rabbitmq/definitions.json"

up: ## the distributed deployment in Docker (docker-compose.yml, credentials from .env)
	docker compose up -d --build

down:
	docker compose down

logs:
	docker compose logs -f
