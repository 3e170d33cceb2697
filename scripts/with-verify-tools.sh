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
# It also provides a real browser for cmd/custos/verifyhtml_chromium_test.go,
# which renders the HTML report of `custos verify --html`: Debian's
# chromium, with fonts-dejavu-core so that text has glyphs to render
# (chromium only recommends a font package). CUSTOS_TEST_CHROMIUM, when
# set, names the browser to use; else chromium on the PATH; else, as root
# with apt-get, both packages are installed when missing (apt-get update
# first when the lists are over a day old or the install fails on stale
# ones). The browser found is exported as CUSTOS_TEST_CHROMIUM. Without
# one the test is skipped, and fails under CI=true.
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

# The lists keep the mirror's modification times, so an update that found
# nothing new shows only in lists/partial, which every update touches.
lists_fresh() {
  [ -n "$(find /var/lib/apt/lists/partial -maxdepth 0 -mmin -1440 2>/dev/null)" ] ||
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

installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# apt_install PKG... installs what is not yet installed, quietly; the
# package lists are refreshed first when stale, or when an install from
# them fails (a superseded security update is no longer on the mirror).
# dpkg's progress goes to a log shown only when the install fails.
apt_install() {
  local want=() p log rc=0
  for p in "$@"; do installed "$p" || want+=("$p"); done
  [ ${#want[@]} -gt 0 ] || return 0
  say "installing ${want[*]} from Debian's packages (once)"
  log=$(mktemp "${TMPDIR:-/tmp}/custos-apt.XXXXXX")
  {
    if ! lists_fresh; then apt-get update -qq || true; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}"; }
  } >"$log" 2>&1 || { rc=$?; tail -n 30 "$log" >&2; }
  rm -f "$log"
  return "$rc"
}

if [ -n "${CUSTOS_TEST_CHROMIUM:-}" ]; then
  : # given
elif command -v chromium >/dev/null && installed fonts-dejavu-core; then
  CUSTOS_TEST_CHROMIUM=$(command -v chromium)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  if apt_install chromium fonts-dejavu-core && command -v chromium >/dev/null; then
    CUSTOS_TEST_CHROMIUM=$(command -v chromium)
  else
    say "apt-get install chromium fonts-dejavu-core failed"
  fi
elif command -v chromium >/dev/null; then
  CUSTOS_TEST_CHROMIUM=$(command -v chromium) # fonts are up to this machine
fi
if [ -n "${CUSTOS_TEST_CHROMIUM:-}" ]; then
  export CUSTOS_TEST_CHROMIUM
  say "browser: $CUSTOS_TEST_CHROMIUM ($("$CUSTOS_TEST_CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
else
  say "no chromium (install Debian's chromium, or run as root to have it installed): the HTML rendering test is skipped, and fails under CI=true"
fi
exec "$@"
