#!/usr/bin/env bash
# Web app benchmark (issue 13): the web app and the bridge's IMAP on a 60,000-message INBOX (the SpamAssassin corpus
# x COPIES), in one run; results go to docs/PERFORMANCE.md by hand.
# Usage: bench/web.sh [--copies 20] [--requests 200] [--store FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run -c Release --project bench/Letterlock.Bench.Web -- "$@"
