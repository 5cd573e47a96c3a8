#!/usr/bin/env bash
# make.sh - rebuilds the capture fixtures in this directory from the shared
# capture pool, and the tshark ground truth the tests compare against.
#
# Usage (from the repository root): capture/testdata/make.sh [POOL]
#   POOL defaults to /work/shared/captures. Needs editcap, tshark, gzip,
#   head, python3 and go. TZ is forced to UTC: editcap writes the NetMon
#   start time in local time.
set -euo pipefail
export TZ=UTC
pool=${1:-/work/shared/captures}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# Originals (see README.md for their origin and licence).
cp "$pool/zeek__smtp-multi-addr.pcap" smtp-multi-addr.pcap
cp "$pool/prot-od-netcaps__MS-AUTHSOD_Example2-1_Win2016_X64_Win2016_X64_Domain.cap" ms-authsod.netmon23.cap
cp "$pool/prot-od-netcaps__MS-ADOD_Example2_10_Win2016_X64_Win2016_X64_Domain_ObtainAListOfUserAccountsUsingTheLDAPProtocol.cap" ms-adod.netmon23.cap
chmod 644 ./*.pcap ./*.cap

# Conversions by Wireshark's own writers.
editcap -F netmon2 smtp-multi-addr.pcap smtp-multi-addr.netmon20.cap
editcap -F netmon1 smtp-multi-addr.pcap smtp-multi-addr.netmon11.cap
gzip -n -c smtp-multi-addr.pcap > smtp-multi-addr.pcap.gz
(cd ../.. && go run ./capture/testdata/mkmixed "$here/smtp-multi-addr.pcap" "$here/mixed.pcapng")
editcap -F netmon2 mixed.pcapng mixed.netmon21.cap

# A Decryption Secrets Block, as editcap writes one: made-up key log lines
# (secrets.keys) before the packets of smtp-multi-addr.pcap.
editcap --inject-secrets tls,secrets.keys smtp-multi-addr.pcap secrets.pcapng

# Files cut short with head -c, in the middle of a record.
head -c 1000 smtp-multi-addr.pcap > cut/smtp-multi-addr.1000.pcap
head -c 1000 smtp-multi-addr.pcap.gz > cut/smtp-multi-addr.pcap.1000.gz
head -c 700 mixed.pcapng > cut/mixed.700.pcapng
head -c 9000 ms-authsod.netmon23.cap > cut/ms-authsod.9000.cap

# tshark's view: frame number, epoch time, length, captured length and the
# SHA-256 of the frame's bytes, one frame a line.
for f in ./*.pcap ./*.pcapng ./*.cap ./*.gz cut/*; do
	tshark -r "$f" -T json -x 2>/dev/null | python3 -c '
import hashlib, json, sys
for p in json.load(sys.stdin):
    l = p["_source"]["layers"]
    fr = l["frame"]
    raw = bytes.fromhex(l["frame_raw"][0])
    print(fr["frame.number"], fr["frame.time_epoch"], fr["frame.len"], fr["frame.cap_len"], hashlib.sha256(raw).hexdigest(), sep="\t")
' > "$f.tshark.tsv" || true
done
