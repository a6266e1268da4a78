#!/usr/bin/env bash
# Stops the private Dovecot started by start-dovecot.sh and removes its folder.
set -euo pipefail
dir=$1
[ -f "$dir/run/master.pid" ] && kill "$(cat "$dir/run/master.pid")" || true
sleep 1
case "$dir" in /tmp/letterlock-dovecot.*) rm -rf "$dir" ;; esac
