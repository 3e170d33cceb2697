#!/usr/bin/env bash
# Runs a command with an S3 server for the tests: the one named by
# CUSTOS_TEST_S3_ENDPOINT, CUSTOS_TEST_S3_ACCESS_KEY and
# CUSTOS_TEST_S3_SECRET_KEY when all three are set, otherwise a MinIO
# server started here on a free 127.0.0.1 port with a temporary data
# directory, and stopped when the command ends.
#
# MinIO (AGPL) runs only as a separate process; it is built once with
# `go install` at the pinned version into .tools/bin. Under CI=true a MinIO
# that cannot be built or started fails the run; elsewhere the command runs
# without one and the S3 tests say they were skipped.
#
# CUSTOS_TEST_MINIO_BIN names the built binary for the fault tests, which
# start, kill and restart a private MinIO of their own. With an external
# server the binary is exported if it is already built, and built first
# under CI=true; without it the fault tests skip (under CI=true they fail).
#
#   scripts/with-minio.sh go test ./storage/...
set -euo pipefail
cd "$(dirname "$0")/.."

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
tools=$PWD/.tools/bin
minio=$tools/minio

stamp=$tools/minio.version
built() { [ -x "$minio" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MINIO_VERSION" ]; }
build() {
  echo "with-minio: building MinIO $MINIO_VERSION (about 3 minutes, once)" >&2
  mkdir -p "$tools"
  GOBIN=$tools go install "github.com/minio/minio@$MINIO_VERSION" >&2 && echo "$MINIO_VERSION" >"$stamp"
}

if [ -n "${CUSTOS_TEST_S3_ENDPOINT:-}" ] && [ -n "${CUSTOS_TEST_S3_ACCESS_KEY:-}" ] && [ -n "${CUSTOS_TEST_S3_SECRET_KEY:-}" ]; then
  echo "with-minio: using the S3 server at $CUSTOS_TEST_S3_ENDPOINT" >&2
  if [ -z "${CUSTOS_TEST_MINIO_BIN:-}" ]; then
    if built || { [ "${CI:-}" = true ] && build; }; then
      export CUSTOS_TEST_MINIO_BIN=$minio
    elif [ "${CI:-}" = true ]; then
      echo "with-minio: cannot build MinIO for the fault tests" >&2; exit 1
    else
      echo "with-minio: no MinIO binary for the fault tests; they skip (under CI=true it is built)" >&2
    fi
  fi
  exec "$@"
fi

run_without() { echo "with-minio: $1" >&2; if [ "${CI:-}" = true ]; then exit 1; fi; echo "with-minio: running without an S3 server (under CI=true this fails)" >&2; shift; exec "$@"; }

if ! built && ! build; then
  run_without "cannot build MinIO" "$@"
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/custos-minio.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 19000)
export MINIO_ROOT_USER=custos-test
export MINIO_ROOT_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# A static key for MinIO's built-in KMS, so the tests can use SSE-S3 and
# SSE-KMS (key id custos-test-key).
export MINIO_KMS_SECRET_KEY=custos-test-key:$(head -c 32 /dev/urandom | base64)
"$minio" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:0" "$data/disk" >"$data/minio.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

ready=
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/minio/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  cat "$data/minio.log" >&2 || true
  run_without "MinIO did not start on 127.0.0.1:$port" "$@"
fi
echo "with-minio: MinIO ready on 127.0.0.1:$port (data in $data)" >&2
export CUSTOS_TEST_S3_ENDPOINT=127.0.0.1:$port
export CUSTOS_TEST_S3_ACCESS_KEY=$MINIO_ROOT_USER
export CUSTOS_TEST_S3_SECRET_KEY=$MINIO_ROOT_PASSWORD
export CUSTOS_TEST_S3_DATA_DIR=$data/disk
export CUSTOS_TEST_S3_KMS_KEY=custos-test-key
export CUSTOS_TEST_MINIO_BIN=${CUSTOS_TEST_MINIO_BIN:-$minio}
"$@"
