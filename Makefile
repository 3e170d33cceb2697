# Custos — build, run, test, benchmark, lint.
# `make run` and `make test` are the two set-up commands of the README.

GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS     := $(CURDIR)/.tools/bin
GOLANGCI  := $(TOOLS)/golangci-lint
GOLANGCI_VERSION := v2.15.0
FUZZTIME  ?= 10s

.PHONY: all build run test unit race fuzz bench lint fmt clean

all: build

build:
	$(GO) build -o $(BIN)/custos ./cmd/custos

# The main job on the embedded default: local data directory, generated key.
run: build
	CUSTOS_BIN=$(BIN)/custos ./scripts/run.sh

# Every test: vet, formatting, unit, CLI, crash and tamper tests (the S3
# ones against a MinIO that scripts/with-minio.sh builds, starts and stops,
# the PostgreSQL ones against a throwaway server of scripts/with-postgres.sh,
# the disclosure package read by outside tools that
# scripts/with-verify-tools.sh finds or installs), then a short run of
# every fuzz target.
test: unit race fuzz

unit:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	./scripts/with-minio.sh ./scripts/with-postgres.sh ./scripts/with-verify-tools.sh $(GO) test -count=1 -timeout 30m ./...

# The packages that run goroutines of their own, again under the race
# detector (cmd/custos's scenarios run the binary: its processes are not
# instrumented, and in-process they take too long for CI's time).
race:
	./scripts/with-minio.sh ./scripts/with-postgres.sh ./scripts/with-verify-tools.sh $(GO) test -race -count=1 -timeout 30m ./chain/... ./storage/... ./agent/...

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Benchmarks print each figure with its target and a baseline measured in
# the same run. The 1M-entry log is built once into the user cache directory;
# the storage, capture and package benchmarks write a 1 GiB file (the
# capture ones also 10,000 small files) into CUSTOS_BENCH_DIR (default: the
# temporary directory, which must not be a small tmpfs). scripts/with-rclone.sh
# installs Debian's rclone, the capture benchmark's second S3 baseline.
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkAppendConcurrent' -benchtime 50000x -count 5 ./chain
	$(GO) test -run '^$$' -bench 'BenchmarkVerifyLog1M|BenchmarkOpen1M' -benchtime 5x -count 1 -timeout 30m ./chain
	$(GO) test -run '^$$' -bench 'BenchmarkProve1M|BenchmarkVerifyProof1M' -count 1 ./chain
	$(GO) test -run '^$$' -bench 'BenchmarkPublishWitnessed' -benchtime 300x -count 3 ./chain
	$(GO) test -run '^$$' -bench 'BenchmarkVerifyPackage1GiB' -benchtime 5x -count 1 -timeout 30m ./chain/disclosure
	./scripts/with-minio.sh $(GO) test -run '^$$' -bench 'BenchmarkS3Put1GiB|BenchmarkLocalPut1GiB' -benchtime 5x -count 1 -timeout 30m ./storage
	./scripts/with-minio.sh $(GO) test -run '^$$' -bench 'BenchmarkS3PutSmall|BenchmarkLocalPutSmall|BenchmarkPeakRSS1GiB' -benchtime 3x -count 1 -timeout 30m ./storage
	./scripts/with-minio.sh ./scripts/with-rclone.sh $(GO) test -run '^$$' -bench 'BenchmarkCaptureLocal1GiB|BenchmarkCaptureS31GiB' -benchtime 3x -count 3 -timeout 60m ./agent/capture
	./scripts/with-minio.sh ./scripts/with-rclone.sh $(GO) test -run '^$$' -bench 'BenchmarkCaptureSmall|BenchmarkCaptureMailbox|BenchmarkCapturePeakRSS1GiB' -benchtime 3x -count 1 -timeout 90m ./agent/capture
	$(GO) test -run '^$$' -bench 'BenchmarkDisclose1GiB' -benchtime 3x -count 3 -timeout 30m ./agent
	$(GO) test -run '^$$' -bench 'BenchmarkCLICaptureTSA' -benchtime 6x -count 1 -timeout 30m ./cmd/custos
	./scripts/with-minio.sh $(GO) test -run '^$$' -bench 'BenchmarkAPISmallCaptures' -benchtime 1x -count 3 -timeout 30m ./agent/server
	$(GO) test -run '^$$' -bench 'BenchmarkServeRSS' -benchtime 1x -count 3 -timeout 30m ./cmd/custos
	$(GO) test -run '^$$' -bench 'BenchmarkCLICommands' -benchtime 9x -count 1 -timeout 30m ./cmd/custos
	./scripts/with-minio.sh ./scripts/with-rclone.sh $(GO) test -run '^$$' -bench 'BenchmarkCLICapture1GiBS3' -benchtime 1x -count 3 -timeout 30m ./cmd/custos

$(GOLANGCI):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
