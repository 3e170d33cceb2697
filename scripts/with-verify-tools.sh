#!/usr/bin/env bash
# Runs a command with the tools that read a disclosure package from
# outside custos, for agent/disclose_interop_test.go: sha256sum (coreutils,
# always on Debian) and a BagIt validator that is not ours, the Library
# of Congress's bagit-python (`bagit.py --validate DIR`).
#
# The validator is CUSTOS_TEST_BAGIT when that is set (a command line to
# which the test appends `--validate DIR`); else the unmodified copy kept
# with the project's shared tools, shared/tools/bagit-python/run, found in
# CUSTOS_SHARED_TOOLS, beside this checkout (../shared/tools) or beside the
# repository it was cloned from (Debian packages no bagit-python and PyPI
# may be out of reach); else bagit.py on the PATH, else `python3 -m
# bagit`. What was found is exported as CUSTOS_TEST_BAGIT. When there is
# none, CUSTOS_TEST_BAGIT_UNAVAILABLE says why: the test then skips the
# BagIt check, and fails it under CI=true.
#
# Debian's openssl checks a package's RFC 3161 tokens (openssl ts
# -verify); as root with apt-get it is installed when missing.
#
# A .zip package is also read by two zip readers that are not Go's:
# Info-ZIP's `unzip -t` and Python's zipfile (python3). As root with
# apt-get, Debian's unzip is installed when missing (python3 is already
# needed above); without them the zip readers' checks are skipped, and
# fail under CI=true.
#
# case.jsonld is checked against CASE 1.4.0 by shared/tools/case-validate/run
# (found as the BagIt validator is; SHACL as CASE's case_validate does),
# which needs Debian's python3-rdflib (and python3-packaging, which its
# pySHACL imports): as root with apt-get they are installed when missing. The validator is exported as CUSTOS_TEST_CASE_VALIDATE;
# without it CUSTOS_TEST_CASE_VALIDATE_UNAVAILABLE says why, and the check
# is skipped, and fails under CI=true.
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

# shared_tools prints the project's shared tools folder: CUSTOS_SHARED_TOOLS,
# ../shared/tools beside this checkout, or beside the local repository
# this checkout was cloned from.
shared_tools() {
  local repo origin d
  repo=$(cd "$(dirname "$0")/.." && pwd)
  origin=$(git -C "$repo" config --get remote.origin.url 2>/dev/null || true)
  origin=${origin#file://}
  for d in "${CUSTOS_SHARED_TOOLS:-}" "$repo/../shared/tools" ${origin:+"$origin/../shared/tools"}; do
    if [ -n "$d" ] && [ -x "$d/bagit-python/run" ]; then
      (cd "$d" && pwd)
      return 0
    fi
  done
  return 1
}

find_bagit() {
  local tools
  if tools=$(shared_tools); then
    echo "$tools/bagit-python/run"
  elif command -v bagit.py >/dev/null; then
    command -v bagit.py
  elif python3 -c 'import bagit' >/dev/null 2>&1; then
    echo "python3 -m bagit"
  else
    return 1
  fi
}

# The lists keep the mirror's modification times, so an update that found
# nothing new shows only in lists/partial, which every update touches.
lists_fresh() {
  [ -n "$(find /var/lib/apt/lists/partial -maxdepth 0 -mmin -1440 2>/dev/null)" ] ||
    [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]
}

if [ -z "${CUSTOS_TEST_BAGIT:-}" ]; then
  if bagit=$(find_bagit); then
    export CUSTOS_TEST_BAGIT="$bagit"
  else
    export CUSTOS_TEST_BAGIT_UNAVAILABLE="no shared/tools/bagit-python beside this checkout or its origin (set CUSTOS_SHARED_TOOLS), no bagit.py on the PATH and no bagit module for python3"
    say "no BagIt validator: $CUSTOS_TEST_BAGIT_UNAVAILABLE; the BagIt check is skipped, and fails under CI=true"
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

if [ -z "${CUSTOS_TEST_CASE_VALIDATE:-}" ]; then
  if ! tools=$(shared_tools) || [ ! -x "$tools/case-validate/run" ]; then
    export CUSTOS_TEST_CASE_VALIDATE_UNAVAILABLE="no shared/tools/case-validate beside this checkout or its origin (set CUSTOS_SHARED_TOOLS)"
  else
    if ! /usr/bin/python3 -c 'import rdflib, packaging' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt_install python3-rdflib python3-packaging || say "apt-get install python3-rdflib python3-packaging failed"
    fi
    if /usr/bin/python3 -c 'import rdflib, packaging' 2>/dev/null; then
      export CUSTOS_TEST_CASE_VALIDATE="$tools/case-validate/run"
      say "CASE validator: $CUSTOS_TEST_CASE_VALIDATE"
    else
      export CUSTOS_TEST_CASE_VALIDATE_UNAVAILABLE="the CASE validator needs Debian's python3-rdflib and python3-packaging (run as root to have it installed)"
    fi
  fi
  [ -z "${CUSTOS_TEST_CASE_VALIDATE_UNAVAILABLE:-}" ] ||
    say "no CASE validator: $CUSTOS_TEST_CASE_VALIDATE_UNAVAILABLE; the CASE check is skipped, and fails under CI=true"
fi

if ! command -v unzip >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install unzip || say "apt-get install unzip failed"
  fi
  command -v unzip >/dev/null ||
    say "no unzip (install Debian's unzip, or run as root to have it installed): the zip reader check is skipped, and fails under CI=true"
fi

# Debian's openssl checks an RFC 3161 token of a package (openssl ts
# -verify), as an investigator would without custos.
if ! command -v openssl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install openssl || say "apt-get install openssl failed"
  fi
  command -v openssl >/dev/null ||
    say "no openssl (install Debian's openssl, or run as root to have it installed): the token check is skipped, and fails under CI=true"
fi

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
