#!/usr/bin/env bash
# healthy: three sessions, every message delivered with 250.
#   session 1: ~2 KB and ~100 KB; session 2: ~1 MB; session 3: ~2 KB, ~100 KB, ~1 MB.
NAME=healthy
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,100k;1m;2k,100k,1m" --eod-timeout 10s
stop_server
stop_capture
finish "three SMTP sessions to 127.0.0.1:25 delivering messages of 2 KiB, 100 KiB and 1 MiB; every end-of-data answered 250 2.0.0" \
	--diag '*=none:ok' --param eod_timeout_s=10 --param server_port=25

# the capture must show it: 3 streams, no retransmission, no RST, six 250s to end-of-data
want_streams 3
want_retrans eq 0
want_rst eq 0
[[ $(ts -Y 'smtp.response.code==250 and smtp.rsp.parameter contains "queued"' -T fields -e frame.number | wc -l) -eq 6 ]] \
	|| die "want six '250 2.0.0 OK: queued'"
log "verified"
