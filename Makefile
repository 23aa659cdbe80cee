# Convenience targets. Go tests and tools need only Go 1.26; the compose
# targets need Docker with the compose plugin.

GO      ?= go
COMPOSE ?= docker compose
JOBS    ?= 3

.PHONY: build test test-stack lint-deploy smoke smoke-tls up up-tls down logs demo demo-tls

build: ## build the binaries into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...

test: ## all tests with the race detector
	$(GO) test -race ./...

test-stack: ## the tests of this subsystem: simulator, fleet against the server, TLS, compose/Dockerfile/unit checks
	$(GO) test -race ./adapters/nodesim ./cmd/cyxwiz-node-sim ./deploy
	$(GO) test -race -run 'TestFleetSimulator|TestHealthcheck|TestTLS|TestMutualTLS|TestPushToUnverified|TestCertificateRotation' ./cmd/cyxwiz-central

up: ## build and start the full stack in the background
	$(COMPOSE) up --build -d

up-tls: ## the same with TLS, mutual TLS for the nodes and the push over TLS (docker-compose.tls.yml)
	$(COMPOSE) -f docker-compose.yml -f docker-compose.tls.yml up --build -d

down: ## stop the stack (volumes are kept; `docker compose down -v` drops them)
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f central node-sim

demo: ## mint a token, submit $(JOBS) jobs to the running stack, print their progress
	COMPOSE="$(COMPOSE)" scripts/demo.sh $(JOBS)

demo-tls: ## the demo against the TLS stack (make up-tls)
	COMPOSE="$(COMPOSE) -f docker-compose.yml -f docker-compose.tls.yml" DEMO_TLS=1 scripts/demo.sh $(JOBS)

lint-deploy: ## dockerlint + dockerfilelint (npm) and shellcheck, if installed
	scripts/lint-deploy.sh

smoke: ## the compose flow without Docker: Dockerfile-style binaries, compose config, nodes, demo.sh, SIGTERM
	scripts/stack-smoke.sh

smoke-tls: ## the same flow with docker-compose.tls.yml's TLS: certs init, TLS, mutual TLS, the push over TLS
	SMOKE_TLS=1 scripts/stack-smoke.sh
