#!/usr/bin/env bash
# `make run`: the main job on the embedded default — the local data
# directory (CUSTOS_DATA_DIR, else $XDG_DATA_HOME/custos, else
# ~/.local/share/custos), the local evidence store under it and a key
# generated there on first use. It receives a demonstration order
# (docs/demo/order.yaml, once), captures its mailbox (docs/demo/export;
# a re-run preserves nothing twice), re-hashes what is stored, verifies the
# custody log and lists the orders; then, from a terminal, it starts the
# daemon (custos serve), which prints its URL and where its first admin
# token is.
#
# The key is encrypted with CUSTOS_KEY_PASSPHRASE, or a passphrase asked on
# the terminal. Without either (a non-interactive first run) the key is
# written unencrypted, with a warning: fine for trying Custos, not for a
# deployment.
set -euo pipefail
custos=${CUSTOS_BIN:-custos}
args=()
if [ -n "${CUSTOS_DATA_DIR:-}" ]; then args+=(--data-dir "$CUSTOS_DATA_DIR"); fi
args+=(--actor "${CUSTOS_ACTOR:-make-run@$(hostname)}")
demo=$(cd "$(dirname "$0")/../docs/demo" && pwd)

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
order=$("$custos" "${args[@]}" order list | awk '$NF == "DEMO-0001" { print $1; exit }')
if [ -z "$order" ]; then
  echo "--- receiving the demonstration order"
  order=$("$custos" "${args[@]}" order add --file "$demo/order.yaml" --document "$demo/order.yaml")
fi
echo "--- capturing order $order from $demo/export"
# The demonstration files are as new as the checkout: capture what exists now.
"$custos" "${args[@]}" capture --cut-off now --source "file://$demo/export" "$order"
echo "--- re-reading and re-hashing every stored item"
"$custos" "${args[@]}" fixity "$order"
echo "--- publishing a checkpoint of the custody log"
"$custos" "${args[@]}" log checkpoint
echo "--- verifying the whole custody log"
"$custos" "${args[@]}" log verify
echo "--- newest custody events"
"$custos" "${args[@]}" log show | tail -n 20
echo "--- orders"
"$custos" "${args[@]}" order list

# Then the daemon, as a provider runs it (custos serve on 127.0.0.1:8420;
# Ctrl-C stops it): when run from a terminal, or with CUSTOS_RUN_SERVE=1.
# CUSTOS_RUN_SERVE=0, or no terminal, ends here.
serve=${CUSTOS_RUN_SERVE:-}
if [ -z "$serve" ]; then
  if [ -t 0 ] && [ -t 1 ]; then serve=1; else serve=0; fi
fi
if [ "$serve" = 1 ]; then
  echo "--- starting the daemon (Ctrl-C stops it)"
  exec "$custos" "${args[@]}" serve
fi
echo "--- done; start the daemon with: $custos serve"
