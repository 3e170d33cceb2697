#!/usr/bin/env bash
# Runs a command with the tools that read a disclosure package from
# outside custos, for agent/disclose_interop_test.go: sha256sum (coreutils,
# always on Debian) and a BagIt validator that is not ours, the Library
# of Congress's bagit-python (`bagit.py --validate DIR`).
#
# The validator is CUSTOS_TEST_BAGIT when that is set (a command line to
# which the test appends `--validate DIR`), else bagit.py on the PATH,
# else `python3 -m bagit`. When there is none and we are root (as CI
# is), Debian's python3-bagit is installed, if the package sources offer
# it (apt-get update is run first only when they do not, and their lists
# are more than a day old). What was found is exported as
# CUSTOS_TEST_BAGIT. When nothing could be had, CUSTOS_TEST_BAGIT_UNAVAILABLE
# says why, and the test reports the BagIt check as not done; a run
# without this script fails that check under CI=true.
#
# Chains with the other scripts:
#
#   scripts/with-minio.sh scripts/with-postgres.sh scripts/with-verify-tools.sh go test ./...
set -euo pipefail

say() { echo "with-verify-tools: $*" >&2; }

find_bagit() {
  if command -v bagit.py >/dev/null; then
    command -v bagit.py
  elif python3 -c 'import bagit' >/dev/null 2>&1; then
    echo "python3 -m bagit"
  else
    return 1
  fi
}

offered() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [^(]'; }

lists_fresh() {
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]
}

why=
if [ -n "${CUSTOS_TEST_BAGIT:-}" ]; then
  : # given
elif bagit=$(find_bagit); then
  export CUSTOS_TEST_BAGIT="$bagit"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  if ! offered python3-bagit && ! lists_fresh; then
    apt-get update -qq >&2 || say "apt-get update failed"
  fi
  if offered python3-bagit; then
    say "installing python3-bagit from Debian's packages (once)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-bagit >&2; then
      why="apt-get install python3-bagit failed"
    fi
  else
    release=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-this release}")
    why="Debian's package sources ($release) offer no python3-bagit, and no bagit.py is on the PATH"
  fi
else
  why="no bagit.py on the PATH and no bagit module for python3 (install Debian's python3-bagit or bagit-python, or run as root to have it installed)"
fi

if [ -z "${CUSTOS_TEST_BAGIT:-}" ]; then
  if bagit=$(find_bagit); then
    export CUSTOS_TEST_BAGIT="$bagit"
  else
    export CUSTOS_TEST_BAGIT_UNAVAILABLE="${why:-python3-bagit was installed but no bagit.py is on the PATH}"
    say "no BagIt validator: $CUSTOS_TEST_BAGIT_UNAVAILABLE; the BagIt check will say it was not done"
  fi
fi
[ -z "${CUSTOS_TEST_BAGIT:-}" ] || say "BagIt validator: $CUSTOS_TEST_BAGIT"
exec "$@"
