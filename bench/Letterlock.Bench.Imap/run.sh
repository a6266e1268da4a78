#!/usr/bin/env bash
# Runs the IMAP benchmark: a private Dovecot with the same 60,000 messages, then the harness
# measuring both in one run. Results go to stdout as a Markdown table (copy into docs/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
copies=${COPIES:-20}
read -r port user pass dir < <(bench/Letterlock.Bench.Imap/start-dovecot.sh "" "$copies")
trap 'bench/Letterlock.Bench.Imap/stop-dovecot.sh "$dir"' EXIT
dotnet run -c Release --project bench/Letterlock.Bench.Imap -- --copies "$copies" --dovecot "$port" "$user" "$pass" "$@"
