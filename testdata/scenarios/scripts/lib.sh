# shellcheck shell=bash
# Shared helpers for the scenario scripts. Source it after setting NAME.
#
# Each scenario runs the lab server and client inside a network namespace of
# its own (smtpscope-NAME-PID) that has nothing but a loopback interface, so no
# packet can leave the machine. tcpdump records that loopback. The namespace
# and every process started in it are removed on exit, even on failure.
#
# Knobs a scenario may set before sourcing (all optional):
#   SNAPLEN    tcpdump snap length (default: whole packets)
#   CAP_IFACE  interface to capture on (default lo)
#   CAP_NAME   capture file name in captures/ (default NAME.pcapng)
# and after lab_init: SERVER_NS (namespace of the server, default NS) and
# EXTRA_NS+=(...) for more namespaces the trap must remove.

set -euo pipefail

SCEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT_DIR:-$SCEN_DIR/captures}
: "${NAME:?set NAME before sourcing lib.sh}"
NS="smtpscope-${NAME}-$$"
EXTRA_NS=()
SERVER_NS=""
WORK=""
LAB=""
SERVER_PID=""
TCPDUMP_PID=""
CPU=${LAB_CPU:-0}          # server and client share one CPU: loopback otherwise reorders
SNAPLEN=${SNAPLEN:-262144} # whole packets (lo MTU is 1500)
CAP_IFACE=${CAP_IFACE:-lo}
CAP_NAME=${CAP_NAME:-$NAME.pcapng}

log() { printf '[%s] %s\n' "$NAME" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

lab_cleanup() {
	local rc=$?
	set +e
	for pid in $SERVER_PID $TCPDUMP_PID; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $SERVER_PID $TCPDUMP_PID; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	local ns
	for ns in "$NS" "${EXTRA_NS[@]}"; do
		if ip netns list 2>/dev/null | grep -qw "^$ns"; then
			# anything still inside was started by this script
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
			ip netns del "$ns"
		fi
	done
	if [[ -n "$WORK" && -d "$WORK" ]]; then
		if [[ $rc -ne 0 || -n "${KEEP_WORK:-}" ]]; then
			log "work files kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit $rc
}

lab_init() {
	[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces, tcpdump)"
	for t in ip tcpdump editcap tshark taskset; do command -v $t >/dev/null || die "missing $t"; done
	WORK=$(mktemp -d "/tmp/smtpscope-${NAME}.XXXXXX")
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$OUT_DIR"
	if [[ -n "${LAB_BIN:-}" ]]; then
		LAB=$LAB_BIN
	else
		log "building lab"
		(cd "$SCEN_DIR" && go build -o "$WORK/lab" ./lab)
		LAB=$WORK/lab
	fi
	ip netns add "$NS"
	ip -n "$NS" link set lo mtu 1500 up
	# one MSS per packet, as on a real wire (no 64 KB GSO super-packets on lo)
	ip -n "$NS" link set lo gso_max_segs 1
	# Per-namespace TCP settings (the host's are untouched):
	# - receive buffers start at 4 MB, as an autotuned relay on a fast LAN
	#   would have, so a 1 MB message does not hit transient zero windows;
	# - no tail loss probes: with both peers on one CPU, a delayed ACK often
	#   outlasts the 10 ms probe timeout and a spurious "retransmission"
	#   appears although nothing was lost. Scenarios about loss keep the
	#   kernel default (LAB_TLP=1).
	SYSCTLS="net.ipv4.tcp_rmem=4096 4194304 8388608"
	[[ -n "${LAB_TLP:-}" ]] || SYSCTLS+=";net.ipv4.tcp_early_retrans=0"
	local kv
	IFS=';' read -ra kv <<<"$SYSCTLS"
	nsexec sysctl -qw "${kv[@]}"
	log "namespace $NS ready"
}

# lab_init_offline: for scenarios made from another scenario's capture and
# logs (no namespace, no traffic): work directory, trap, lab binary
lab_init_offline() {
	for t in editcap tshark; do command -v $t >/dev/null || die "missing $t"; done
	WORK=$(mktemp -d "/tmp/smtpscope-${NAME}.XXXXXX")
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$OUT_DIR"
	if [[ -n "${LAB_BIN:-}" ]]; then
		LAB=$LAB_BIN
	else
		log "building lab"
		(cd "$SCEN_DIR" && go build -o "$WORK/lab" ./lab)
		LAB=$WORK/lab
	fi
	SYSCTLS=""
}

nsexec() { ip netns exec "$NS" "$@"; }

start_capture() {
	# TPACKET_V3 ring of 64 MB; -U writes each packet as soon as it is read.
	# Not via nsexec: $! must be tcpdump itself (ip netns exec execs it).
	# tcpdump gets the other CPU when there is one.
	local tcpu=$CPU
	[[ $(nproc) -gt 1 ]] && tcpu=$(( (CPU + 1) % $(nproc) ))
	ip netns exec "$NS" taskset -c "$tcpu" tcpdump -i "$CAP_IFACE" -s "$SNAPLEN" -B 65536 -U -n \
		--time-stamp-precision=micro -w "$WORK/cap.pcap" 2>"$WORK/tcpdump.err" &
	TCPDUMP_PID=$!
	for _ in $(seq 50); do
		grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && return 0
		sleep 0.1
	done
	die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
}

stop_capture() {
	# libpcap hands over a partly filled ring block only when its timeout
	# (1 s) expires: wait for it, or the last segments would be lost
	sleep 2.5
	kill -INT "$TCPDUMP_PID"
	wait "$TCPDUMP_PID" || true
	TCPDUMP_PID=""
	grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.err" || die "tcpdump dropped packets: $(cat "$WORK/tcpdump.err")"
}

# start_server ARGS... (lab server flags)
start_server() {
	: >"$WORK/server.jsonl"
	ip netns exec "${SERVER_NS:-$NS}" taskset -c "$CPU" "$LAB" server --log "$WORK/server.jsonl" --lifetime 300s "$@" 2>"$WORK/server.err" &
	SERVER_PID=$!
	for _ in $(seq 50); do
		grep -q '"event":"listen"' "$WORK/server.jsonl" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "server did not start: $(cat "$WORK/server.err")"
}

stop_server() {
	[[ -n "$SERVER_PID" ]] || return 0
	sleep 0.2
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" || true
	SERVER_PID=""
}

# run_client ARGS... (lab client flags); bounded by timeout(1)
run_client() {
	timeout 300 ip netns exec "$NS" taskset -c "$CPU" "$LAB" client --tag "$NAME" \
		--src-port-base 40000 --out "$WORK/client.jsonl" "$@"
	log "client done: $(grep -c '"type":"message"' "$WORK/client.jsonl") message line(s)"
}

# write_expect DESCRIPTION EXPECT-ARGS...: logs and expect file for CAP_NAME
write_expect() {
	local desc=$1; shift
	cp "$WORK/client.jsonl" "$OUT_DIR/$NAME.client.jsonl"
	cp "$WORK/server.jsonl" "$OUT_DIR/$NAME.server.jsonl"
	local sys=()
	[[ -z "$SYSCTLS" ]] || sys=(--param "netns_sysctls=$SYSCTLS")
	"$LAB" expect --name "$NAME" --description "$desc" --capture "$CAP_NAME" \
		--client "$WORK/client.jsonl" --server "$WORK/server.jsonl" \
		--out "$OUT_DIR/$NAME.expect.json" "${sys[@]}" "$@"
}

# finish DESCRIPTION EXPECT-ARGS...: pcapng, logs, expect file, checks.
# ALLOW_TRUNCATED=1 (snaplen) and ALLOW_LOST=1 (an edited capture) relax the
# checks that the capture is whole.
finish() {
	local desc=$1; shift
	local cap="$OUT_DIR/$CAP_NAME"
	editcap -F pcapng --capture-comment "smtpscope lab scenario $NAME: $desc (expected result: $NAME.expect.json)" \
		"$WORK/cap.pcap" "$cap"
	write_expect "$desc" "$@"
	summarize
	[[ $TRUNCATED -eq 0 || -n "${ALLOW_TRUNCATED:-}" ]] || die "$TRUNCATED truncated frame(s)"
	# the capture must reach the server's last close (its FIN or RST)
	local last_close
	last_close=$( (grep '"event":"close"' "$WORK/server.jsonl" || true) | tail -1 | sed -n 's/.*"ts":\([0-9.]*\).*/\1/p')
	if [[ -n "$last_close" ]]; then
		awk -v c="$last_close" -v f="$LAST_FRAME_EPOCH" 'BEGIN { exit !(f + 0.05 >= c) }' \
			|| die "capture ends at $LAST_FRAME_EPOCH, before the server's last close at $last_close"
	fi
	# nothing may be missing from the capture
	[[ $LOST -eq 0 || -n "${ALLOW_LOST:-}" ]] || die "capture incomplete: tshark reports $LOST segment(s) not captured"
	log "wrote $cap ($(stat -c %s "$cap") bytes), $NAME.expect.json"
}

# tshark helpers; DECODE may hold "-d tcp.port==2525,smtp". A capture cut
# short makes tshark fail after the last whole frame: TS_TOLERANT=1 takes
# what it read.
DECODE=()
ts() {
	if [[ -n "${TS_TOLERANT:-}" ]]; then
		tshark -n -r "$OUT_DIR/$CAP_NAME" "${DECODE[@]}" "$@" 2>/dev/null || true
	else
		tshark -n -r "$OUT_DIR/$CAP_NAME" "${DECODE[@]}" "$@" 2>/dev/null
	fi
}
count() { ts -Y "$1" -T fields -e frame.number | wc -l; }

summarize() {
	local f="$OUT_DIR/$NAME.tshark.txt"
	# one pass for the per-frame facts, then awk
	ts -T fields -E separator=/t -e frame.number -e tcp.stream -e frame.time_epoch \
		-e tcp.analysis.retransmission -e tcp.flags.reset -e tcp.analysis.zero_window \
		-e tcp.analysis.lost_segment -e tcp.analysis.ack_lost_segment -e frame.cap_len -e frame.len \
		>"$WORK/frames.tsv"
	fcount() { awk -F'\t' -v c="$1" '$c != "" && $c != "0" && $c != "False"' "$WORK/frames.tsv" | wc -l; }
	FRAMES=$(wc -l <"$WORK/frames.tsv")
	STREAMS=$(awk -F'\t' '$2 != "" { s[$2] = 1 } END { print length(s) }' "$WORK/frames.tsv")
	RETRANS=$(fcount 4)
	RSTS=$(awk -F'\t' '$5 == "1" || $5 == "True"' "$WORK/frames.tsv" | wc -l)
	ZEROWIN=$(fcount 6)
	LOST=$(( $(fcount 7) + $(fcount 8) ))
	TRUNCATED=$(awk -F'\t' '$9 < $10' "$WORK/frames.tsv" | wc -l)
	LAST_FRAME_EPOCH=$(tail -1 "$WORK/frames.tsv" | cut -f3)
	{
		echo "# tshark summary of $CAP_NAME (regenerated by scripts/$NAME.sh)"
		echo "# frames: $FRAMES"
		echo "# tcp streams: $STREAMS"
		echo "# retransmissions: $RETRANS"
		echo "# RST segments: $RSTS"
		echo "# zero-window segments: $ZEROWIN"
		ts -q -z conv,tcp | grep -v '^$'
		echo "# SMTP commands and replies: frame time stream command code"
		ts -Y 'smtp.req.command or smtp.response.code' -T fields -e frame.number -e frame.time_relative \
			-e tcp.stream -e smtp.req.command -e smtp.response.code
	} >"$f"
}

# eod_frames: one line per client segment that ends a DATA body
# ("\r\n.\r\n"): frame number, relative time, stream
eod_frames() {
	ts -Y "tcp.dstport==${1:-25} and tcp.len>=5" -T fields -e frame.number -e frame.time_relative -e tcp.stream -e tcp.payload |
		awk -F'\t' '{ p=$4; gsub(":","",p); if (substr(p, length(p)-9) == "0d0a2e0d0a") print $1"\t"$2"\t"$3 }'
}

# no_server: scenarios without a listening server still get an (empty) server log
no_server() { : >"$WORK/server.jsonl"; }

# want_streams N; want FILTER OP N (OP: eq, ge, le) -- checks on the capture
want_streams() { [[ $STREAMS -eq $1 ]] || die "want $1 TCP stream(s), capture has $STREAMS"; }
want_retrans() { test "$RETRANS" "-$1" "$2" || die "want retransmissions -$1 $2, got $RETRANS"; }
want_rst() { test "$RSTS" "-$1" "$2" || die "want RST segments -$1 $2, got $RSTS"; }
want() {
	local n
	n=$(count "$1")
	test "$n" "-$2" "$3" || die "want count($1) -$2 $3, got $n"
}
queued() { count "tcp.srcport==${1:-25} and smtp.response.code==250 and smtp.rsp.parameter contains \"queued\""; }
