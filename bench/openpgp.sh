#!/usr/bin/env bash
# OpenPGP benchmarks (issue 2, section 7); results go to docs/PERFORMANCE.md by hand.
#  1. in-process throughput of Letterlock.OpenPgp on one thread (bench/Letterlock.Bench.OpenPgp);
#  2. per-process wall time of `letterlock-sop encrypt --sign-with` / `decrypt --verify-with`
#     (the small NativeAOT executable SOP consumers are given, from scripts/publish), `letterlock sop`
#     (the same code in the full NativeAOT binary, and in the JIT build) versus sqop and gpg on the
#     same 10 KiB file, all measured in this run with hyperfine;
#  3. CPU per process (perf stat) of version, encrypt, decrypt, sign and verify, letterlock-sop and
#     `letterlock sop` each next to sqop in the same run, with the ratio to sqop.
# Usage: bench/openpgp.sh [SECONDS_PER_IN_PROCESS_CASE] [HYPERFINE_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
runs="${2:-100}"
work="$(mktemp -d)"
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
cleanup() { gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "## machine"
echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $(dotnet --version) SDK, $(sqop version), $(gpg --version | head -1)"
echo

echo "## in-process (one thread)"
dotnet run --configuration Release --project bench/Letterlock.Bench.OpenPgp -- "$seconds"
echo

# LETTERLOCK_AOT=path/to/letterlock reuses a binary from scripts/publish (the native link is slow);
# letterlock-sop is taken from the same folder.
aot="${LETTERLOCK_AOT:-$(scripts/publish "$work/aot")}"
sop="$(dirname "$aot")/letterlock-sop"
[ -x "$sop" ] || { echo "bench/openpgp.sh: no letterlock-sop next to $aot (publish with scripts/publish)" >&2; exit 1; }
dotnet build src/Letterlock.Cli --configuration Release -o "$work/jit" >/dev/null
jit="dotnet $work/jit/letterlock.dll"

cd "$work"
head -c 10240 /dev/urandom > msg
"$aot" sop generate-key "Letterlock <ll@example.org>" > ll.key
"$aot" sop extract-cert < ll.key > ll.cert
sqop generate-key "Sequoia <sq@example.net>" > sq.key
sqop extract-cert < sq.key > sq.cert
gpg --batch -q --passphrase '' --quick-gen-key "GnuPG <gpg@example.com>" future-default default never
gpg --batch -q --import ll.cert sq.cert
gpgfpr="$(gpg --with-colons --list-secret-keys gpg@example.com | awk -F: '/^fpr/ {print $10; exit}')"
llfpr="$(gpg --with-colons --list-keys ll@example.org | awk -F: '/^fpr/ {print $10; exit}')"
gpg --batch --export gpg@example.com > gpg.cert

# Every tool encrypts to the same recipient (sqop's key) and signs with its own key; every tool
# decrypts a message made by itself to its own key and verifies the signer.
"$aot" sop encrypt --sign-with=ll.key sq.cert < msg > ll-to-sq.asc
"$aot" sop encrypt --sign-with=ll.key ll.cert < msg > ll-to-ll.asc
sqop encrypt --sign-with=sq.key sq.cert < msg > sq-to-sq.asc
gpg --batch -q --trust-model always -a -e -s -u "$gpgfpr" -r "$gpgfpr" < msg > gpg-to-gpg.asc

echo "## per process, 10 KiB message (hyperfine, $runs runs, mean ± σ)"
hyperfine --style basic --warmup 10 --runs "$runs" --export-markdown encrypt.md \
  -n "letterlock-sop encrypt (NativeAOT)" "exec $sop encrypt --sign-with=ll.key sq.cert < msg > /dev/null" \
  -n "letterlock sop encrypt (NativeAOT)" "exec $aot sop encrypt --sign-with=ll.key sq.cert < msg > /dev/null" \
  -n "letterlock sop encrypt (JIT)" "$jit sop encrypt --sign-with=ll.key sq.cert < msg > /dev/null" \
  -n "exec sqop encrypt" "sqop encrypt --sign-with=sq.key sq.cert < msg > /dev/null" \
  -n "gpg --encrypt --sign" "gpg --batch -q --trust-model always -a -e -s -u $gpgfpr -r $llfpr < msg > /dev/null" >/dev/null
hyperfine --style basic --warmup 10 --runs "$runs" --export-markdown decrypt.md \
  -n "letterlock-sop decrypt (NativeAOT)" "rm -f v; $sop decrypt --verify-with=ll.cert --verifications-out=v ll.key < ll-to-ll.asc > /dev/null" \
  -n "letterlock sop decrypt (NativeAOT)" "rm -f v; $aot sop decrypt --verify-with=ll.cert --verifications-out=v ll.key < ll-to-ll.asc > /dev/null" \
  -n "letterlock sop decrypt (JIT)" "rm -f v; $jit sop decrypt --verify-with=ll.cert --verifications-out=v ll.key < ll-to-ll.asc > /dev/null" \
  -n "sqop decrypt" "rm -f v; sqop decrypt --verify-with=sq.cert --verifications-out=v sq.key < sq-to-sq.asc > /dev/null" \
  -n "gpg --decrypt" "gpg --batch -q --trust-model always --decrypt gpg-to-gpg.asc > /dev/null" >/dev/null
cat encrypt.md
echo
cat decrypt.md
echo
# CPU per process is what the goal compares (wall time on a shared machine is mostly waiting for a core).
# Each operation's rows run back to back, so the load they see is alike; the ratio is to sqop's row.
"$sop" sign ll.key < msg > ll.sig
sqop sign sq.key < msg > sq.sig
if perf stat -e task-clock true >/dev/null 2>&1; then
  echo "## CPU per process (perf stat, 40 runs each; every row includes its sh -c, the decrypt rows also an rm)"
  echo
  echo "| command | task-clock | page faults | / sqop |"
  echo "|---|---|---|---|"
  cpu() {
    perf stat -r 40 -x, -e task-clock,page-faults sh -c "$2" 2>&1 >/dev/null \
      | awk -F, '$3=="task-clock" {t=$1} $3=="page-faults" {f=$1} END {print t, f}'
  }
  # compare OPERATION SQOP_COMMAND [NAME COMMAND]...: sqop's row first, then each of ours with its ratio to it.
  compare() {
    local op="$1" peer
    read -r peer pf < <(cpu sqop "$2")
    printf '| sqop %s | %.2f ms | %d | 1.00 |\n' "$op" "$peer" "$pf"
    shift 2
    while [ $# -gt 0 ]; do
      read -r t f < <(cpu "$1" "$2")
      awk -v n="$1 $op" -v t="$t" -v f="$f" -v p="$peer" 'BEGIN {printf "| %s | %.2f ms | %d | %.2f |\n", n, t, f, t / p}'
      shift 2
    done
  }
  read -r t f < <(cpu true "exec true")
  printf '| sh -c (exec true) | %.2f ms | %d | |\n' "$t" "$f"
  compare version "exec sqop version" \
    letterlock-sop "exec $sop version" "letterlock sop" "exec $aot sop version"
  compare "encrypt --sign-with" "exec sqop encrypt --sign-with=sq.key sq.cert < msg > /dev/null" \
    letterlock-sop "exec $sop encrypt --sign-with=ll.key sq.cert < msg > /dev/null" \
    "letterlock sop" "exec $aot sop encrypt --sign-with=ll.key sq.cert < msg > /dev/null"
  compare "decrypt --verify-with --verifications-out" \
    "rm -f v; exec sqop decrypt --verify-with=sq.cert --verifications-out=v sq.key < sq-to-sq.asc > /dev/null" \
    letterlock-sop "rm -f v; exec $sop decrypt --verify-with=ll.cert --verifications-out=v ll.key < ll-to-ll.asc > /dev/null" \
    "letterlock sop" "rm -f v; exec $aot sop decrypt --verify-with=ll.cert --verifications-out=v ll.key < ll-to-ll.asc > /dev/null"
  compare sign "exec sqop sign sq.key < msg > /dev/null" \
    letterlock-sop "exec $sop sign ll.key < msg > /dev/null"
  compare verify "exec sqop verify sq.sig sq.cert < msg > /dev/null" \
    letterlock-sop "exec $sop verify ll.sig ll.cert < msg > /dev/null"
  echo
fi
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
