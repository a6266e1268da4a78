#!/usr/bin/env bash
# SMTP ingest benchmark: Letterlock's MX (SQLite, PostgreSQL) and a private Postfix, same load, same run.
# Needs root (private Postfix and PostgreSQL instances run as their system users); see docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps
dotnet run -c Release --project bench/Letterlock.Bench.Ingest -- "$@"
