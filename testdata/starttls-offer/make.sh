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
# tcpdump to CPU 1. Every wait is bounded. The set-up is the tlskeys lab's
# (tlskeys/testdata/lab/lab.sh, sourced).
#
# Outputs (here): starttls-offer.pcapng, starttls-offer.server.jsonl (per
# session: client port, whether STARTTLS was offered, the TLS version), and
# starttls-offer.tshark.tsv, tshark's reading of the EHLO replies:
#   tshark -Y 'smtp.response.code == 250 && smtp.rsp.parameter' -T fields
#          -E aggregator='|' -e tcp.srcport -e tcp.dstport -e smtp.rsp.parameter
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tlskeys/testdata/lab/lab.sh
. "$HERE/../../tlskeys/testdata/lab/lab.sh"
lab_start starttls-offer 'tcp port 25'

session() { # source port, server args, client args
	local sport=$1 sargs=$2 cargs=$3
	# shellcheck disable=SC2086
	lab_server $sargs
	# shellcheck disable=SC2086
	lab_py_client "$sport" --one-rcpt $cargs
}
session 40001 "" "--opportunistic"
session 40002 "--no-starttls" "--opportunistic"
session 40003 "" "--opportunistic"
session 40004 "--no-starttls" "--require-tls"

lab_stop_capture
editcap -F pcapng "$WORK/raw.pcap" "$HERE/starttls-offer.pcapng"
cp "$WORK/server.jsonl" "$HERE/starttls-offer.server.jsonl"
tshark -r "$HERE/starttls-offer.pcapng" -Y 'smtp.response.code == 250 && smtp.rsp.parameter' -T fields \
	-E aggregator='|' -e tcp.srcport -e tcp.dstport -e smtp.rsp.parameter 2>/dev/null | grep -v '^Running as user' >"$HERE/starttls-offer.tshark.tsv"
[[ $(grep -c . "$HERE/starttls-offer.server.jsonl") -eq 4 ]] || { cat "$HERE/starttls-offer.server.jsonl" >&2; exit 1; }
grep -q error "$HERE/starttls-offer.server.jsonl" && { cat "$HERE/starttls-offer.server.jsonl" >&2; exit 1; }
echo "wrote $HERE/starttls-offer.{pcapng,server.jsonl,tshark.tsv}"
