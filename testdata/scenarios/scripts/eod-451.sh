#!/usr/bin/env bash
# eod-451: one session; a 2 KiB message gets 250, a 1.2 MiB message is received
# in full and its end-of-data answered "451 4.3.0" (temporary failure). The
# client keeps the session and QUITs normally.
NAME=eod-451
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --reply-code 451 --reply-enh 4.3.0 \
	--reply-text "Temporary local problem - please try later" --reply-above 1048576
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; a 1.2 MiB message's end-of-data gets 451 4.3.0; the client QUITs" \
	--diag 'delivered=none:ok' --diag 'deferred=L7:deferred' --param eod_timeout_s=10 --param server_port=25
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==25 and smtp.response.code==451' eq 1
want 'smtp.req.command=="QUIT"' eq 1
log verified
