#!/usr/bin/env bash
# reset-by-client: one session; a 2 KiB message gets 250; 300 KiB into the
# 1 MiB message's body the client aborts the connection with RST (SO_LINGER 0),
# as a crashing or killed MTA would. The server sees the reset mid-DATA.
NAME=reset-by-client
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,1m" --abort-rst-after 307200
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; 300 KiB into a 1 MiB body the client resets the connection (RST)" \
	--diag 'delivered=none:ok' --diag 'aborted=L4:reset-by-client' --param server_port=25 --param client_abort_after_bytes=307200
want_streams 1
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==40001 and tcp.flags.reset==1' ge 1
want 'tcp.srcport==25 and tcp.flags.reset==1' eq 0
[[ $(eod_frames | wc -l) -eq 1 ]] || die "want only the first message's end-of-data"
log verified
