#!/usr/bin/env bash
# port-2525: the healthy traffic on a non-standard port, 127.0.0.1:2525
# (decode with: tshark -d tcp.port==2525,smtp).
NAME=port-2525
source "$(dirname "$0")/lib.sh"
DECODE=(-d tcp.port==2525,smtp)
lab_init
start_capture
start_server --listen 127.0.0.1:2525
run_client --server 127.0.0.1:2525 --sessions "2k,100k;1m" --eod-timeout 10s
stop_server
stop_capture
finish "two sessions to 127.0.0.1:2525: 2 KiB and 100 KiB, then 1 MiB; all 250" \
	--diag '*=none:ok' --param server_port=2525
want_streams 2
want_retrans eq 0
want_rst eq 0
[[ $(queued 2525) -eq 3 ]] || die "want three 250 queued"
log verified
