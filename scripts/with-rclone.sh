#!/usr/bin/env bash
# Runs a command with rclone on the PATH, for the capture benchmark's
# comparison with `rclone copyto`: Debian's rclone is installed when it is
# missing and we are root (as CI is). When it cannot be installed the
# command runs all the same, and the benchmark says that it measured no
# ratio against rclone.
#
#   scripts/with-minio.sh scripts/with-rclone.sh go test -bench BenchmarkCaptureS31GiB ./agent/capture
set -euo pipefail

if ! command -v rclone >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "with-rclone: installing rclone from Debian's packages (once)" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rclone; } >&2; then
      echo "with-rclone: apt-get install rclone failed; running without rclone" >&2
    fi
  else
    echo "with-rclone: no rclone on the PATH (install Debian's rclone package, or run as root to have it installed); running without it" >&2
  fi
fi
exec "$@"
