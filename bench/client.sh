#!/usr/bin/env bash
# Client sync and bridge benchmark (issue 6): new-device sync of 10,000 messages from a real provider
# on loopback, and the bridge on a 60,000-message INBOX against a private Dovecot holding the same
# messages (Maildir), measured in the same run with the same IMAP client code; notmuch and mu index and search that
# Maildir beside `letterlock search` on the bridge's store.
# Needs root (the private Dovecot runs as the mail user); results go to docs/PERFORMANCE.md by hand.
# Usage: bench/client.sh [--messages 10000] [--sessions 8] [--bodies 1000] [--only sync|bridge]
#        COPIES=20 sets the mailbox size (the 3,000-message corpus x COPIES).
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${COPIES:-20}
# The search peers (notmuch, mu) index the same Maildir Dovecot serves.
command -v notmuch >/dev/null && command -v mu >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends notmuch maildir-utils >/dev/null
read -r port user pass dir < <(bench/Letterlock.Bench.Imap/start-dovecot.sh "" "$copies")
trap 'bench/Letterlock.Bench.Imap/stop-dovecot.sh "$dir"' EXIT
dotnet run -c Release --project bench/Letterlock.Bench.Client -- --copies "$copies" --dovecot "$port" "$user" "$pass" --maildir "$dir/mail/bench" "$@"
