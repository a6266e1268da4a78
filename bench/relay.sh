#!/usr/bin/env bash
# Outbound relay benchmark: our queue + relay and a private Postfix relay draining the same load into a private
# Postfix sink over STARTTLS; and a live batch while another destination is blackholed. See docs/PERFORMANCE.md.
# Needs root (the private Postfix instances run as the postfix user).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps
dotnet run -c Release --project bench/Letterlock.Bench.Relay -- "$@"
