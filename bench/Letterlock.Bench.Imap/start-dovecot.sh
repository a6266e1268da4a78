#!/usr/bin/env bash
# Starts a private Dovecot (Debian's dovecot-imapd) on 127.0.0.1 with a Maildir holding the test
# messages replicated COPIES times, as docs/PERFORMANCE.md describes. Prints "PORT USER PASSWORD DIR".
# Stop it with: bench/Letterlock.Bench.Imap/stop-dovecot.sh DIR
# Usage: start-dovecot.sh [SOURCE_DIR] [COPIES] [PORT]
set -euo pipefail
source_dir=${1:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/testdata/spamassassin}
[ -d "$source_dir" ] || source_dir=/work/shared/testdata/spamassassin
copies=${2:-20}
port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')}
dir=$(mktemp -d /tmp/letterlock-dovecot.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/run" "$dir/index" "$dir/mail/bench/cur" "$dir/mail/bench/new" "$dir/mail/bench/tmp"

# Maildir: one file per message, copies of the corpus (CRLF-normalised like the Letterlock import).
python3 - "$source_dir" "$copies" "$dir/mail/bench/cur" <<'PY'
import os, sys
src, copies, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs if f.endswith(".eml"))
n = 0
for c in range(copies):
    for f in files:
        data = open(f, "rb").read().replace(b"\r\n", b"\n")
        n += 1
        with open(os.path.join(out, f"{1600000000 + n}.M{n}P1.bench,S={len(data)}:2,"), "wb") as o:
            o.write(data)
print(f"{n} messages", file=sys.stderr)
PY

echo "bench:{PLAIN}bench-pass" > "$dir/passwd"
cat > "$dir/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/run
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$dir/mail/%u:INDEX=$dir/index/%u
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
mail_max_userip_connections = 1000
default_process_limit = 1000
default_client_limit = 2000
log_path = $dir/dovecot.log
passdb {
  driver = passwd-file
  args = $dir/passwd
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
  process_min_avail = 4
}
service imap {
  process_limit = 1000
}
service auth {
  client_limit = 3000
}
service anvil {
  client_limit = 3000
}
CONF
chown -R mail:mail "$dir/mail" "$dir/index"
dovecot -c "$dir/dovecot.conf" </dev/null >/dev/null 2>&1
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
  sleep 0.2
done
echo "$port bench bench-pass $dir"
