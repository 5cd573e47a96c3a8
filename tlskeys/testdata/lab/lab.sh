# lab.sh — the TLS lab's shared set-up, sourced by the scripts that record
# real SMTP peers (smtpd.py and client.py beside this file, Python ssl):
# tlskeys/testdata/lab/make.sh and testdata/starttls-offer/make.sh.
#
#     . path/to/tlskeys/testdata/lab/lab.sh
#     lab_start NAME 'BPF FILTER'   # root and tools checked, namespace, cert, tcpdump
#     lab_server [smtpd.py args]     # serves one connection in the background
#     lab_py_client PORT [client.py args]
#     lab_stop_capture               # tcpdump stopped; fails on a dropped packet
#
# Everything runs in a network namespace of its own (NAME-PID) with nothing
# but lo (deleted on exit, with every process in it); every address is
# 127.0.0.1. Peers are pinned to CPU 0, tcpdump to CPU 1. Every wait is
# bounded. After lab_start: WORK is the work directory (kept when the
# script fails, removed otherwise), $WORK/raw.pcap the capture,
# $WORK/cert.pem and $WORK/key.pem the server's certificate and key,
# $WORK/server.jsonl what smtpd.py logs, in_ns runs a command in the
# namespace, SERVER is the pid of the last lab_server.
# shellcheck shell=bash

LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TCPDUMP_PID=""
SERVER=""

lab_cleanup() {
	local rc=$?
	set +e
	[[ -n "$TCPDUMP_PID" ]] && kill -TERM "$TCPDUMP_PID" 2>/dev/null
	sleep 0.5
	for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	if [[ $rc -ne 0 ]]; then echo "failed; work files in $WORK" >&2; else rm -rf "$WORK"; fi
	exit $rc
}

in_ns() { ip netns exec "$NS" "$@"; }

# lab_start NAME FILTER: checks that it runs as root with the tools it
# needs, makes the namespace and the work directory, the server's
# certificate, and starts tcpdump on lo with FILTER.
lab_start() {
	local name=$1 filter=$2 t
	[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
	for t in ip tcpdump editcap tshark taskset openssl python3 ss; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
	NS="$name-$$"
	WORK=$(mktemp -d "/tmp/$name.XXXXXX")
	trap lab_cleanup EXIT
	ip netns add "$NS"
	ip -n "$NS" link set lo mtu 1500 up
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
		-days 3650 -subj /CN=mx.lab.test -addext subjectAltName=DNS:mx.lab.test 2>/dev/null
	ip netns exec "$NS" taskset -c 1 tcpdump -i lo -s 262144 -B 65536 -U -w "$WORK/raw.pcap" "$filter" 2>"$WORK/tcpdump.err" &
	TCPDUMP_PID=$!
	for _ in $(seq 100); do grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && break; sleep 0.05; done
}

# lab_server [ARGS]: smtpd.py serving one connection (ARGS: its flags) in
# the background, once it listens on port 25 or 465.
lab_server() {
	ip netns exec "$NS" taskset -c 0 timeout 30 python3 "$LAB/smtpd.py" --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
		--log "$WORK/server.jsonl" --count 1 --timeout 20 "$@" &
	SERVER=$!
	for _ in $(seq 100); do in_ns ss -ltn | grep -qE ":(25|465) " && break; sleep 0.05; done
}

# lab_py_client PORT [ARGS]: client.py from source port PORT (ARGS: its
# flags), then waits for the server to end.
lab_py_client() {
	local sport=$1
	shift
	in_ns taskset -c 0 timeout 20 python3 "$LAB/client.py" --source-port "$sport" "$@"
	wait "$SERVER"
}

# lab_stop_capture stops tcpdump, a second after the last session, and
# fails if the kernel dropped a packet.
lab_stop_capture() {
	sleep 1
	kill -TERM "$TCPDUMP_PID"
	wait "$TCPDUMP_PID" 2>/dev/null || true
	TCPDUMP_PID=""
	grep -qx "0 packets dropped by kernel" "$WORK/tcpdump.err" || { cat "$WORK/tcpdump.err" >&2; exit 1; }
}
