#!/usr/bin/env bash
# Makes the lab captures beside this script, for the Analyzer's agreement
# test (reassembly/analysis_test.go), then refreshes their tshark golden
# files with `go test ./reassembly -run TestAnalyzerAgreesWithTshark -update`.
#
# Needs root, ip netns, iptables, tcpdump, python3 and editcap. Each scenario
# runs in a network namespace of its own with nothing but a loopback
# interface (MTU 1500, no GSO so the capture shows wire-sized segments); all
# traffic is to 127.0.0.1 and cannot leave the machine. Drops come from
# iptables' statistic match (this kernel has no netem): a drop in INPUT
# happens after tcpdump saw the packet (network loss, the capture holds the
# original and its retransmission); frames removed from a capture afterwards
# model capture loss.
#
# The captures are random (loss) and timing-dependent: rerunning gives
# different files. They are committed; rerun only to add a scenario.
set -euo pipefail

DIR=$(cd "$(dirname "$0")" && pwd)
LAB="$DIR/lab.py"
TOOL="$DIR/pcaptool.py"
WORK=$(mktemp -d)
NS=""
TCPDUMP_PID=""

cleanup() {
	set +e
	if [[ -n "$TCPDUMP_PID" ]]; then kill -TERM "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
	if [[ -n "$NS" ]]; then
		for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$NS" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM

# run NAME SCENARIO SNAPLEN [iptables rule...]: one capture of one scenario.
run() {
	local name=$1 scenario=$2 snaplen=$3
	shift 3
	NS="smtpscope-analysis-$$"
	ip netns add "$NS"
	ip -n "$NS" link set lo mtu 1500
	ip -n "$NS" link set lo gso_max_size 1500 gso_max_segs 1
	ip -n "$NS" link set lo up
	while (($#)); do
		# shellcheck disable=SC2086
		ip netns exec "$NS" iptables $1
		shift
	done
	ip netns exec "$NS" tcpdump -i lo -s "$snaplen" -U -w "$WORK/$name.pcap" tcp 2>"$WORK/$name.err" &
	TCPDUMP_PID=$!
	for _ in $(seq 50); do grep -q listening "$WORK/$name.err" && break; sleep 0.1; done
	sleep 0.5
	ip netns exec "$NS" taskset -c 0 python3 "$LAB" "$scenario"
	sleep 1
	kill -TERM "$TCPDUMP_PID"
	wait "$TCPDUMP_PID" || true
	TCPDUMP_PID=""
	ip netns del "$NS"
	NS=""
	cp "$WORK/$name.pcap" "$DIR/$name.pcap"
	echo "made $name.pcap ($(tcpdump -r "$DIR/$name.pcap" 2>/dev/null | wc -l) packets)" >&2
}

drop() { # drop PROBABILITY PORTMATCH: a random-drop rule for INPUT
	echo "-A INPUT -p tcp $2 -m statistic --mode random --probability $1 -j DROP"
}

if (($#)); then # only the named captures, e.g. lab_refused
	for name; do
		grep -E "^run $name " "$0" | while read -r line; do eval "$line"; done
	done
	exit 0
fi

run lab_bulk bulk 262144
run lab_loss loss 262144 "$(drop 0.03 '--dport 2525')" "$(drop 0.03 '--sport 2525')"
run lab_zerowindow zerowindow 262144
run lab_keepalive keepalive 262144
run lab_refused refused 262144
run lab_syntimeout syntimeout 262144 "-A INPUT -p tcp --dport 2601 --syn -j DROP"
run lab_abort abort 262144 "-A INPUT -p tcp --dport 2525 -m length --length 1000:65535 -j DROP"
run lab_injectedrst injectedrst 262144
run lab_rstafterclose rstafterclose 262144
run lab_portreuse portreuse 262144
run lab_snaplen bulk 96

# Variants of the captures above.
# Capture loss: frames the capture missed (every 37th from frame 40 on).
mapfile -t gone < <(seq 40 37 1500)
editcap "$DIR/lab_loss.pcap" "$DIR/lab_captureloss.pcap" "${gone[@]}"
# Mid-stream pickup: the capture starts in the middle of the DATA transfer.
editcap -r "$DIR/lab_zerowindow.pcap" "$DIR/lab_midstream.pcap" 22-100000
# Reordering: swap some adjacent data frames.
python3 "$TOOL" reorder "$DIR/lab_bulk.pcap" "$DIR/lab_reorder.pcap" 30 61 101 150 151 420
# Sequence-number wraparound in the middle of a lossy transfer.
python3 "$TOOL" wrap "$DIR/lab_loss.pcap" "$DIR/lab_wrap.pcap" 300000

echo "now run: go test ./reassembly -run TestAnalyzerAgreesWithTshark -update" >&2
