#!/usr/bin/env bash
# Runs a command with a PostgreSQL server for the tests: the one named by
# CUSTOS_TEST_PG_URL (postgres://user:password@host:port/db) when it is
# set, otherwise a throwaway cluster started here on a free 127.0.0.1 port,
# with its data and socket in a temporary directory, and stopped and
# removed when the command ends.
#
# The server is Debian's: the binaries of the newest
# /usr/lib/postgresql/*/bin. When there are none and we are root (as CI
# is), `apt-get install postgresql` installs them (about a minute on a
# fresh machine, once). PostgreSQL refuses to run as root, so as root the
# cluster runs as the postgres user the package creates. The test role is
# not a superuser; it owns the test database. Under CI=true a server that
# cannot be installed or started fails the run; elsewhere the command runs
# without one and the PostgreSQL tests say they were skipped.
#
# Chains with scripts/with-minio.sh:
#
#   scripts/with-minio.sh scripts/with-postgres.sh go test ./agent/source/...
set -euo pipefail

if [ -n "${CUSTOS_TEST_PG_URL:-}" ]; then
  echo "with-postgres: using the PostgreSQL server of CUSTOS_TEST_PG_URL" >&2
  exec "$@"
fi

run_without() {
  echo "with-postgres: $1" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  echo "with-postgres: running without a PostgreSQL server (under CI=true this fails)" >&2
  shift
  "$@" # not exec: the EXIT trap must still stop the server
  exit 0
}

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  return 1
}

if ! bin=$(bindir); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "with-postgres: installing PostgreSQL from Debian's packages (once)" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >&2; then
      run_without "apt-get install postgresql failed" "$@"
    fi
    bin=$(bindir) || run_without "no PostgreSQL binaries under /usr/lib/postgresql after the install" "$@"
  else
    run_without "no PostgreSQL binaries under /usr/lib/postgresql (install the postgresql package, or run as root to have it installed)" "$@"
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/custos-pg.XXXXXX")
as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || run_without "running as root and there is no postgres user to run the server as" "$@"
  chown postgres "$tmp"
  as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 15432)
superpw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
testpw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

started=
cleanup() {
  if [ -n "$started" ]; then "${as[@]}" "$bin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

printf '%s\n' "$superpw" >"$tmp/pw"
chmod 0600 "$tmp/pw"
[ ${#as[@]} -eq 0 ] || chown postgres "$tmp/pw"
if ! "${as[@]}" "$bin/initdb" -D "$tmp/data" -U custos -A scram-sha-256 --auth-local=trust --pwfile="$tmp/pw" \
  -E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
  cat "$tmp/initdb.log" >&2
  run_without "initdb failed" "$@"
fi
rm -f "$tmp/pw"
if ! "${as[@]}" "$bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null 2>&1; then
  cat "$tmp/server.log" >&2 || true
  run_without "PostgreSQL did not start on 127.0.0.1:$port" "$@"
fi
started=1
if ! "${as[@]}" "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U custos -d postgres >/dev/null <<SQL
CREATE ROLE custos_test LOGIN PASSWORD '$testpw';
CREATE DATABASE custos_test OWNER custos_test;
SQL
then
  run_without "cannot create the test role and database" "$@"
fi
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port (data in $tmp)" >&2
export CUSTOS_TEST_PG_URL="postgres://custos_test:$testpw@127.0.0.1:$port/custos_test?sslmode=disable"
"$@"
