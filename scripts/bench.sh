#!/usr/bin/env bash
# bench.sh — how fast is smtpscope on a mail hub's capture, next to the
# tools people would otherwise run, and is it still right at that scale?
#
# It generates (or reuses) a synthetic capture with cmd/smtpgen, builds
# smtpscope and the floor loop (bench/floor), then runs on the same file:
#
#   smtpscope analyze --format json F
#   smtpscope analyze --workers 2 --format json F
#   tshark -r F -q -z expert
#   tshark -r F -Y smtp -T fields -e tcp.stream -e smtp.req.command -e smtp.response.code
#   tcptrace -n -l F
#   floor F            (read + decode + reassembly + line split, nothing else)
#
# Each tool runs once under /usr/bin/time -v (wall, user+sys CPU, peak
# RSS); tools whose run stays under BENCH_SLOW seconds are timed again with
# hyperfine (BENCH_RUNS runs, wall = hyperfine's mean). It prints a table
# with packets/s and MB/s (10^6 bytes), the ratios, and checks smtpscope's
# per-session outcomes against the generator's expectations.
#
# Environment:
#   BENCH_SIZE      capture size for smtpgen --size (default 1G; 100M for a quick run)
#   BENCH_SEED      smtpgen --seed (default 1)
#   BENCH_PROBLEMS  smtpgen --problems (default 0.05)
#   BENCH_RUNS      hyperfine runs per tool (default 3)
#   BENCH_SLOW      seconds above which a tool is timed once only (default 120)
#   BENCH_DATA      where captures, binaries and results go (default bench/data, git-ignored)
#   BENCH_STRICT    1: exit 1 when smtpscope disagrees with the expectations
#                   (on the capture, the TLS-heavy one, the duplicated one or
#                   the newer shapes)
#   BENCH_SHAPES_SIZE  size of the capture written with every frame twice
#                   (smtpgen --duplicate), checked against its expectations
#                   (default 64M); the floods (smtpgen --flood) are measured
#                   for peak RSS beside it
#   BENCH_FLAT      1: also analyse a capture twice as big (same seed) and
#                   compare smtpscope's peak RSS (default 1 when BENCH_SIZE=1G)
#   BENCH_MIX_SIZE  size of the capture of the newer shapes (default a quarter
#                   of BENCH_SIZE; 0: skip): half its sessions send with BDAT
#                   (smtpgen --bdat; chunks pipelined with PIPELINING, half of
#                   those refused after a chunk with the later ones pipelined
#                   behind it: --bdat-pipelined-refusal), 30 %
#                   carry a fault (refusals after a chunk or BDAT LAST, silence
#                   after BDAT LAST, body faults in chunks among them), 20 % of
#                   those with healthy TCP lack a frame in the capture
#                   (--capture-loss: the check counts false claims), as do 20 %
#                   of those with a network fault (--fault-capture-loss), half
#                   negotiate SACK (--sack: SACK blocks on duplicate ACKs,
#                   D-SACK on needless retransmissions); messages capped at
#                   64 KiB, for many sessions at once; analysed once and checked
#                   against its expectations
#   BENCH_TLS_SIZE  size of the TLS-heavy capture (smtpgen --tls 1: every
#                   session upgrades with STARTTLS and goes on in opaque
#                   records; a share BENCH_PROBLEMS of them carry a fault:
#                   TCP ones as in clear, refusals turned into a relay silent
#                   after the end-of-data), timed like the main capture and checked
#                   against its expectations, messages inferred (default a
#                   quarter of BENCH_SIZE; 0: skip)
#
# It also writes a CPU profile of the one-worker smtpscope run
# (smtpscope.cpu.pprof beside the results) and prints its top functions.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

size=${BENCH_SIZE:-1G}
seed=${BENCH_SEED:-1}
problems=${BENCH_PROBLEMS:-0.05}
runs=${BENCH_RUNS:-3}
slow=${BENCH_SLOW:-120}
data=${BENCH_DATA:-bench/data}
strict=${BENCH_STRICT:-0}
flat_default=0
[ "$size" = 1G ] && flat_default=1
flat=${BENCH_FLAT:-$flat_default}

# Tools: install what is missing (Debian; needs root or sudo).
need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v tcptrace >/dev/null 2>&1 || need+=(tcptrace)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "bench: need root to install: ${need[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "bench: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$data/bin"
bin=$data/bin
echo "bench: building smtpscope, floor, expectcheck, smtpgen" >&2
go build -o "$bin/smtpscope" ./cmd/smtpscope
go build -o "$bin/floor" ./bench/floor
go build -o "$bin/expectcheck" ./bench/expectcheck
go build -o "$bin/smtpgen" ./cmd/smtpgen

# capture_for SIZE [KIND FLAGS...]: generate (or reuse) the capture of
# that size (named bench-KIND-SIZE with KIND, made with the extra smtpgen
# FLAGS); sets cap, expect and stamp. A capture is reused while the
# generator's source and flags are the same.
capture_for() {
  local sz=$1 kind=${2:-}
  local extra=("${@:3}")
  name=bench-${kind:+$kind-}$(echo "$sz" | tr 'A-Z' 'a-z')
  [ "$seed" = 1 ] || name=$name-seed$seed
  [ "$problems" = 0.05 ] || name=$name-p$problems
  cap=$data/$name.pcap
  expect=$data/$name.expect.jsonl
  stamp="smtpgen --size $sz --seed $seed --problems $problems${extra[*]:+ ${extra[*]}}; synth $(git rev-parse HEAD:bench/synth 2>/dev/null || echo unknown)"
  if [ -n "$(git status --porcelain bench/synth cmd/smtpgen 2>/dev/null)" ]; then
    stamp="$stamp (modified $(cat bench/synth/*.go cmd/smtpgen/*.go | sha256sum | cut -c1-12))"
  fi
  if [ -f "$cap" ] && [ -f "$expect" ] && [ "$(cat "$cap.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "bench: reusing $cap" >&2
  else
    echo "bench: generating $cap ($sz)" >&2
    rm -f "$cap.stamp"
    /usr/bin/time -f "bench: smtpgen took %e s wall, %U+%S s CPU, %M KB peak RSS" \
      "$bin/smtpgen" --out "$cap" --expect "$expect" --size "$sz" --seed "$seed" --problems "$problems" "${extra[@]}"
    echo "$stamp" >"$cap.stamp"
  fi
}
capture_for "$size"
bytes=$(stat -c %s "$cap")
cat "$cap" >/dev/null # warm the page cache: every tool reads the file from memory

results=$data/$name.results.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Tools, in table order: label and command line ("F" is the capture).
labels=("smtpscope" "smtpscope --workers 2" "tshark -z expert" "tshark -Y smtp fields" "tcptrace -n -l" "floor")
cmds=(
  "$bin/smtpscope analyze --format json -o $work/report.json --cpuprofile $data/smtpscope.cpu.pprof $cap"
  "$bin/smtpscope analyze --workers 2 --format json -o /dev/null $cap"
  "tshark -r $cap -q -z expert"
  "tshark -r $cap -Y smtp -T fields -e tcp.stream -e smtp.req.command -e smtp.response.code"
  "tcptrace -n -l $cap"
  "$bin/floor $cap"
)

# field FILE LABEL: a value from /usr/bin/time -v output.
field() { grep -m1 -F "$2" "$1" | sed 's/.*: //'; }
# seconds H:MM:SS.ss or M:SS.ss -> seconds.
seconds() { echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.3f", s }'; }

declare -a wall cpu rss how
for i in "${!labels[@]}"; do
  echo "bench: ${labels[$i]}" >&2
  tv=$work/time.$i
  # Exit status 1 is smtpscope's "failure found" and tshark's own quirks:
  # only the timing matters here, and the check below reads the report.
  /usr/bin/time -v -o "$tv" bash -c "${cmds[$i]} >$work/out.$i 2>$work/err.$i" || true
  w=$(seconds "$(field "$tv" "Elapsed (wall clock) time")")
  u=$(field "$tv" "User time (seconds)")
  s=$(field "$tv" "System time (seconds)")
  cpu[$i]=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  rss[$i]=$(field "$tv" "Maximum resident set size (kbytes)")
  wall[$i]=$w
  how[$i]="1 run"
  if awk -v w="$w" -v slow="$slow" 'BEGIN { exit !(w < slow) }' && [ "$runs" -gt 1 ]; then
    hcmd=${cmds[$i]}
    [ "$i" -eq 0 ] && hcmd="$bin/smtpscope analyze --format json -o /dev/null $cap"
    hyperfine --style basic --ignore-failure --runs "$runs" --export-csv "$work/hf.$i.csv" "$hcmd" >"$work/hf.$i.txt" 2>&1 || true
    if [ -s "$work/hf.$i.csv" ]; then
      wall[$i]=$(awk -F, 'NR == 2 { printf "%.3f", $2 }' "$work/hf.$i.csv")
      sd=$(awk -F, 'NR == 2 { printf "%.3f", $3 }' "$work/hf.$i.csv")
      how[$i]="hyperfine mean of $runs, sd ${sd}s"
    fi
  fi
done

last=$((${#labels[@]} - 1))
packets=$(sed -n 's/.* packets \([0-9]*\) .*/\1/p' "$work/out.$last")
[ -n "$packets" ] || { echo "bench: floor printed no packet count: $(cat "$work/out.$last" "$work/err.$last")" >&2; exit 1; }
# grep -m1, not "| head -1": under pipefail a reader that stops early
# kills the writer with SIGPIPE, and set -e the script.
reported=$(grep -m1 -o '"packets": [0-9]*' "$work/report.json" | tr -dc 0-9 || true)

flat_rss=""
if [ "$flat" = 1 ]; then
  one_cap=$cap one_expect=$expect one_stamp=$stamp
  double=$(awk -v s="$size" 'BEGIN { n = s + 0; u = substr(s, length(n "") + 1); printf "%d%s", 2 * n, u }')
  capture_for "$double"
  flat_cap=$cap flat_bytes=$(stat -c %s "$cap")
  cat "$cap" >/dev/null
  echo "bench: smtpscope on $flat_cap (memory check)" >&2
  /usr/bin/time -v -o "$work/time.flat" "$bin/smtpscope" analyze --format json -o /dev/null "$cap" >/dev/null 2>&1 || true
  flat_rss=$(field "$work/time.flat" "Maximum resident set size (kbytes)")
  cap=$one_cap expect=$one_expect stamp=$one_stamp
fi

check=0
"$bin/expectcheck" "$work/report.json" "$expect" 15 >"$work/check.txt" 2>&1 || check=$?

# The TLS-heavy capture (issue 15): the same hub with every session in
# STARTTLS, its messages inferred from the records. Timed as the main
# capture is (one /usr/bin/time -v run, then hyperfine), and checked.
tls_size=${BENCH_TLS_SIZE:-$(awk -v s="$size" 'BEGIN { n = s + 0; u = toupper(substr(s, length(n "") + 1, 1)); m = u == "G" ? n * 1024 : u == "K" ? n / 1024 : u == "M" ? n : n / 1048576; q = int(m / 4); printf "%dM", q < 1 ? 1 : q }')}
tls_check=0 tls_row=""
if [ "$tls_size" != 0 ]; then
  main_cap=$cap main_expect=$expect main_stamp=$stamp main_name=$name
  capture_for "$tls_size" tls --tls 1
  tls_cap=$cap tls_expect=$expect tls_bytes=$(stat -c %s "$cap")
  cat "$cap" >/dev/null
  echo "bench: smtpscope on the TLS-heavy capture $tls_cap" >&2
  /usr/bin/time -v -o "$work/time.tls" "$bin/smtpscope" analyze --format json -o "$work/tls.json" "$tls_cap" >/dev/null 2>&1 || true
  tw=$(seconds "$(field "$work/time.tls" "Elapsed (wall clock) time")")
  tcpu=$(awk -v u="$(field "$work/time.tls" "User time (seconds)")" -v s="$(field "$work/time.tls" "System time (seconds)")" 'BEGIN { printf "%.2f", u + s }')
  trss=$(field "$work/time.tls" "Maximum resident set size (kbytes)")
  thow="1 run"
  if awk -v w="$tw" -v slow="$slow" 'BEGIN { exit !(w < slow) }' && [ "$runs" -gt 1 ]; then
    hyperfine --style basic --ignore-failure --runs "$runs" --export-csv "$work/hf.tls.csv" \
      "$bin/smtpscope analyze --format json -o /dev/null $tls_cap" >"$work/hf.tls.txt" 2>&1 || true
    if [ -s "$work/hf.tls.csv" ]; then
      tw=$(awk -F, 'NR == 2 { printf "%.3f", $2 }' "$work/hf.tls.csv")
      thow="hyperfine mean of $runs, sd $(awk -F, 'NR == 2 { printf "%.3f", $3 }' "$work/hf.tls.csv")s"
    fi
  fi
  tpackets=$(grep -m1 -o '"packets": [0-9]*' "$work/tls.json" | tr -dc 0-9 || true)
  tls_row=$(awk -v w="$tw" -v c="$tcpu" -v r="$trss" -v p="${tpackets:-0}" -v b="$tls_bytes" -v h="$thow" \
    'BEGIN { printf "%-22s %9.2f %9.2f %9.0f %11.0f %8.1f  %s", "smtpscope (TLS)", w, c, r / 1024, p / w, b / 1e6 / w, h }')
  "$bin/expectcheck" "$work/tls.json" "$tls_expect" 15 >"$work/tls-check.txt" 2>&1 || tls_check=$?
  cap=$main_cap expect=$main_expect stamp=$main_stamp name=$main_name
fi

# Capture shapes (issue 13): the same sessions captured twice over (a bond's
# two members) must give the same outcomes and causes. And floods (issue 14):
# peak RSS of smtpscope on 200,000 SYN-only connections and 50,000 sessions
# idle after EHLO, within the default caps, with the evictions it reports.
shapes_size=${BENCH_SHAPES_SIZE:-64M}
dup_cap=$data/bench-dup-$(echo "$shapes_size" | tr 'A-Z' 'a-z')-s$seed.pcap
dup_expect=${dup_cap%.pcap}.expect.jsonl
echo "bench: duplicated capture $dup_cap" >&2
"$bin/smtpgen" --out "$dup_cap" --expect "$dup_expect" --size "$shapes_size" --seed "$seed" --problems "$problems" --duplicate --quiet
"$bin/smtpscope" analyze --format json -o "$work/dup.json" "$dup_cap" >/dev/null 2>&1 || true
dup_check=0
"$bin/expectcheck" "$work/dup.json" "$dup_expect" 15 >"$work/dup-check.txt" 2>&1 || dup_check=$?
# The newer shapes (BENCH_MIX_SIZE): BDAT sessions among the others,
# frames missing from the capture, SACK, more faults than the main capture.
# Checked like it, timed once.
mix_size=${BENCH_MIX_SIZE:-$(awk -v s="$size" 'BEGIN { n = s + 0; u = toupper(substr(s, length(n "") + 1, 1)); m = u == "G" ? n * 1024 : u == "K" ? n / 1024 : u == "M" ? n : n / 1048576; q = int(m / 4); printf "%dM", q < 1 ? 1 : q }')}
mix_flags=(--bdat 0.5 --bdat-pipelined-refusal 0.5 --capture-loss 0.2 --fault-capture-loss 0.2 --sack 0.5 --problems 0.3 --max-message-size 64K)
mix_check=0 mix_line=""
if [ "$mix_size" != 0 ]; then
  main_cap=$cap main_expect=$expect main_stamp=$stamp main_name=$name
  capture_for "$mix_size" mix "${mix_flags[@]}"
  mix_cap=$cap mix_expect=$expect
  echo "bench: smtpscope on the newer shapes $mix_cap" >&2
  /usr/bin/time -v -o "$work/time.mix" "$bin/smtpscope" analyze --format json -o "$work/mix.json" "$mix_cap" >/dev/null 2>&1 || true
  mix_line="$(stat -c %s "$mix_cap") bytes, $(seconds "$(field "$work/time.mix" "Elapsed (wall clock) time")") s wall, $(( $(field "$work/time.mix" "Maximum resident set size (kbytes)") / 1024 )) MB peak RSS"
  "$bin/expectcheck" "$work/mix.json" "$mix_expect" 15 >"$work/mix-check.txt" 2>&1 || mix_check=$?
  cap=$main_cap expect=$main_expect stamp=$main_stamp name=$main_name
fi
floods=()
for flood in syn:200000 idle-ehlo:50000; do
  kind=${flood%%:*} n=${flood#*:}
  fcap=$data/flood-$kind-$n.pcap
  [ -s "$fcap" ] || "$bin/smtpgen" --flood "$kind" --sessions "$n" --out "$fcap" --quiet
  echo "bench: smtpscope on the $kind flood" >&2
  /usr/bin/time -v -o "$work/time.flood-$kind" "$bin/smtpscope" analyze --format json -o "$work/flood-$kind.json" "$fcap" >/dev/null 2>&1 || true
  frss=$(field "$work/time.flood-$kind" "Maximum resident set size (kbytes)")
  fwall=$(seconds "$(field "$work/time.flood-$kind" "Elapsed (wall clock) time")")
  fev=$(grep -m1 -o '"evicted": *[0-9]*' "$work/flood-$kind.json" | grep -o '[0-9]*$' || echo 0)
  floods+=("$(printf "%-10s %7d connections: peak RSS %4d MiB, %6.1f s, %d evicted" "$kind" "$n" $((frss / 1024)) "$fwall" "$fev")")
done

{
  echo "== smtpscope benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "capture   $cap: $bytes bytes, $packets packets (smtpscope counted ${reported:-?}); $stamp"
  echo "machine   $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 " GiB" }'), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "versions  $(go version | cut -d' ' -f3), $(tshark --version 2>/dev/null | head -1), tcptrace $(tcptrace -v 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1), $(hyperfine --version)"
  echo
  printf "%-22s %9s %9s %9s %11s %8s  %s\n" tool "wall s" "CPU s" "RSS MB" "packets/s" "MB/s" "wall from"
  for i in "${!labels[@]}"; do
    awk -v l="${labels[$i]}" -v w="${wall[$i]}" -v c="${cpu[$i]}" -v r="${rss[$i]}" -v p="$packets" -v b="$bytes" -v h="${how[$i]}" \
      'BEGIN { printf "%-22s %9.2f %9.2f %9.0f %11.0f %8.1f  %s\n", l, w, c, r / 1024, p / w, b / 1e6 / w, h }'
  done
  echo
  echo "ratios (smtpscope / tool; below 1 means smtpscope is faster or smaller):"
  for i in $(seq 2 "$last"); do
    awk -v l="${labels[$i]}" -v w0="${wall[0]}" -v w="${wall[$i]}" -v c0="${cpu[0]}" -v c="${cpu[$i]}" -v r0="${rss[0]}" -v r="${rss[$i]}" \
      'BEGIN { printf "  vs %-22s wall %6.2fx   CPU %6.2fx   RSS %6.2fx\n", l, w0 / w, c0 / c, r0 / r }'
  done
  awk -v w1="${wall[0]}" -v w2="${wall[1]}" 'BEGIN { printf "  --workers 2 throughput: %.2fx one worker'"'"'s\n", w1 / w2 }'
  if [ -n "$flat_rss" ]; then
    echo
    echo "memory on a capture twice as big ($flat_cap, $flat_bytes bytes): peak RSS $((flat_rss / 1024)) MB, $(awk -v a="$flat_rss" -v b="${rss[0]}" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }') against $size"
  fi
  echo
  echo "CPU profile of the one-worker run ($data/smtpscope.cpu.pprof), top functions by own time:"
  go tool pprof -top -nodecount=15 "$bin/smtpscope" "$data/smtpscope.cpu.pprof" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/  /'
  echo
  echo "correctness: smtpscope's report against $expect"
  cat "$work/check.txt"
  echo "expectcheck exit status $check (0: all sessions agree, 1: mismatches, 2: could not check)"
  echo
  if [ -n "$tls_row" ]; then
    echo "TLS-heavy capture $tls_cap: $tls_bytes bytes, ${tpackets:-?} packets; every session STARTTLS, opaque records (smtpgen --tls 1)"
    printf "%-22s %9s %9s %9s %11s %8s  %s\n" tool "wall s" "CPU s" "RSS MB" "packets/s" "MB/s" "wall from"
    echo "$tls_row"
    awk -v tc="$tcpu" -v tb="$tls_bytes" -v c="${cpu[0]}" -v b="$bytes" \
      'BEGIN { printf "CPU per MB: %.2f ms in TLS, %.2f ms in clear (%.2fx)\n", 1000 * tc / (tb / 1e6), 1000 * c / (b / 1e6), (tc / tb) / (c / b) }'
    echo "correctness: smtpscope's inferred outcomes against $tls_expect"
    cat "$work/tls-check.txt"
    echo "expectcheck exit status $tls_check"
    echo
  fi
  echo "capture shapes: every frame twice ($dup_cap; messages only, as Wireshark flags the copies)"
  cat "$work/dup-check.txt"
  echo "expectcheck exit status $dup_check"
  echo
  if [ -n "$mix_line" ]; then
    echo "newer shapes ($mix_cap, smtpgen ${mix_flags[*]}): $mix_line"
    cat "$work/mix-check.txt"
    echo "expectcheck exit status $mix_check"
    echo
  fi
  echo "floods (default --max-connections and --max-buffered; budget 128 MiB peak RSS):"
  printf '  %s\n' "${floods[@]}"
} | tee "$results"
echo "bench: results in $results" >&2
if [ "$strict" = 1 ] && { [ "$check" -ne 0 ] || [ "$dup_check" -ne 0 ] || [ "$tls_check" -ne 0 ] || [ "$mix_check" -ne 0 ]; }; then
  exit 1
fi
