#!/usr/bin/env bash
# eod-552: one session; a 2 KiB message gets 250, a 1.2 MiB message is received
# in full and its end-of-data answered "552 5.3.4" (permanent: too big). The
# client keeps the session and QUITs normally.
NAME=eod-552
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --reply-code 552 --reply-enh 5.3.4 \
	--reply-text "Message size exceeds fixed limit" --reply-above 1048576
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; a 1.2 MiB message's end-of-data gets 552 5.3.4; the client QUITs" \
	--diag 'delivered=none:ok' --diag 'rejected=L7:rejected' --param eod_timeout_s=10 --param server_port=25
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==25 and smtp.response.code==552' eq 1
log verified
