#!/usr/bin/env bash
# bdat: one session with RFC 3030 CHUNKING (go-smtp's server advertises and
# implements it): MAIL and RCPT pipelined, then the body in BDAT chunks of
# 256 KiB, the last one "BDAT n LAST", no dot-stuffing and no end-of-data line.
# The reply to BDAT LAST is the message's final reply. 2 KiB and 1 MiB, both 250.
NAME=bdat
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --proto bdat --bdat-chunk 262144 --sessions "2k,1m" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25 with CHUNKING: a 2 KiB message in one BDAT LAST, a 1 MiB message in four 256 KiB BDAT chunks; both 250" \
	--diag '*=none:ok' --param server_port=25 --param bdat_chunk_bytes=262144 \
	--note "With BDAT, wire_bytes is the message itself: chunks carry it unstuffed and there is no end-of-data line; the final reply answers BDAT ... LAST."
want_streams 1
want_retrans eq 0
want_rst eq 0
want 'smtp.req.command=="DATA"' eq 0
[[ $(queued) -eq 2 ]] || die "want two 250 queued"
n=$(ts -Y 'tcp.dstport==25 and tcp.payload' -T fields -e tcp.payload | tr -d ':' | grep -c '^42444154' || true)
[[ $n -eq 5 ]] || die "want 5 segments starting with BDAT, got $n"
log verified
