#!/usr/bin/env bash
# make.sh — records one SMTP server address (127.0.0.1:25) that offers
# STARTTLS on some sessions and not on others, with real peers (the tlskeys
# lab's smtpd.py and smtplib client, Python ssl), for the starttls-stripped
# comparison (#15). Run as root from anywhere:
#
#     sudo testdata/starttls-offer/make.sh
#
# Sessions, in order, each a fresh server process on the same address:
#   40001  STARTTLS offered; the client upgrades (TLS 1.3) and delivers
#   40002  no STARTTLS offered; the opportunistic client delivers in plaintext
#   40003  STARTTLS offered; the client upgrades and delivers
#   40004  no STARTTLS offered; the client requires TLS and QUITs
# No key log is written (the TLS sessions are inferred).
#
# Everything runs in a network namespace of its own with nothing but lo
# (deleted on exit, with every process in it). Peers are pinned to CPU 0,
# tcpdump to CPU 1. Every wait is bounded.
#
# Outputs (here): starttls-offer.pcapng, starttls-offer.server.jsonl (per
# session: client port, whether STARTTLS was offered, the TLS version), and
# starttls-offer.tshark.tsv, tshark's reading of the EHLO replies:
#   tshark -Y 'smtp.response.code == 250 && smtp.rsp.parameter' -T fields
#          -E aggregator='|' -e tcp.srcport -e tcp.dstport -e smtp.rsp.parameter
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$(cd "$HERE/../../tlskeys/testdata/lab" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
for t in ip tcpdump editcap tshark taskset openssl python3 ss; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done

NS="starttls-offer-$$"
WORK=$(mktemp -d /tmp/starttls-offer.XXXXXX)
TCPDUMP_PID=""
cleanup() {
	local rc=$?
	set +e
	[[ -n "$TCPDUMP_PID" ]] && kill -TERM "$TCPDUMP_PID" 2>/dev/null
	sleep 0.5
	for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	if [[ $rc -ne 0 ]]; then echo "failed; work files in $WORK" >&2; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo mtu 1500 up
in_ns() { ip netns exec "$NS" "$@"; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
	-days 3650 -subj /CN=mx.lab.test -addext subjectAltName=DNS:mx.lab.test 2>/dev/null

ip netns exec "$NS" taskset -c 1 tcpdump -i lo -s 262144 -B 65536 -U -w "$WORK/raw.pcap" 'tcp port 25' 2>"$WORK/tcpdump.err" &
TCPDUMP_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/tcpdump.err" && break; sleep 0.05; done

session() { # source port, server args, client args
	local sport=$1 sargs=$2 cargs=$3
	# shellcheck disable=SC2086
	ip netns exec "$NS" taskset -c 0 timeout 30 python3 "$LAB/smtpd.py" --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
		--log "$WORK/server.jsonl" --count 1 --timeout 20 $sargs &
	local server=$!
	for _ in $(seq 100); do in_ns ss -ltn | grep -qE ":25 " && break; sleep 0.05; done
	# shellcheck disable=SC2086
	in_ns taskset -c 0 timeout 20 python3 "$LAB/client.py" --source-port "$sport" --one-rcpt $cargs
	wait "$server"
}
session 40001 "" "--opportunistic"
session 40002 "--no-starttls" "--opportunistic"
session 40003 "" "--opportunistic"
session 40004 "--no-starttls" "--require-tls"

sleep 1
kill -TERM "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null || true; TCPDUMP_PID=""
grep -qx "0 packets dropped by kernel" "$WORK/tcpdump.err" || { cat "$WORK/tcpdump.err" >&2; exit 1; }
editcap -F pcapng "$WORK/raw.pcap" "$HERE/starttls-offer.pcapng"
cp "$WORK/server.jsonl" "$HERE/starttls-offer.server.jsonl"
tshark -r "$HERE/starttls-offer.pcapng" -Y 'smtp.response.code == 250 && smtp.rsp.parameter' -T fields \
	-E aggregator='|' -e tcp.srcport -e tcp.dstport -e smtp.rsp.parameter 2>/dev/null | grep -v '^Running as user' >"$HERE/starttls-offer.tshark.tsv"
[[ $(grep -c . "$HERE/starttls-offer.server.jsonl") -eq 4 ]] || { cat "$HERE/starttls-offer.server.jsonl" >&2; exit 1; }
grep -q error "$HERE/starttls-offer.server.jsonl" && { cat "$HERE/starttls-offer.server.jsonl" >&2; exit 1; }
echo "wrote $HERE/starttls-offer.{pcapng,server.jsonl,tshark.tsv}"
