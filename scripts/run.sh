#!/usr/bin/env bash
# `make run`: the custody log on the embedded default — the local data
# directory (CUSTOS_DATA_DIR, else $XDG_DATA_HOME/custos, else
# ~/.local/share/custos) and a key generated there on first use.
#
# The key is encrypted with CUSTOS_KEY_PASSPHRASE, or a passphrase asked on
# the terminal. Without either (a non-interactive first run) the key is
# written unencrypted, with a warning: fine for trying Custos, not for a
# deployment.
set -euo pipefail
custos=${CUSTOS_BIN:-custos}
args=()
if [ -n "${CUSTOS_DATA_DIR:-}" ]; then args+=(--data-dir "$CUSTOS_DATA_DIR"); fi

if ! "$custos" "${args[@]}" keys show >/dev/null 2>&1; then
  gen=(keys generate)
  if [ -z "${CUSTOS_KEY_PASSPHRASE:-}" ] && ! [ -t 0 ]; then
    echo "run: no CUSTOS_KEY_PASSPHRASE and no terminal: generating an unencrypted demo key" >&2
    gen+=(--no-passphrase)
  fi
  "$custos" "${args[@]}" "${gen[@]}"   # prints the new key
else
  "$custos" "${args[@]}" keys show
fi
echo "--- publishing a checkpoint of the custody log"
"$custos" "${args[@]}" log checkpoint
echo "--- verifying the whole custody log"
"$custos" "${args[@]}" log verify
echo "--- newest custody events"
"$custos" "${args[@]}" log show | tail -n 20
