#!/usr/bin/env bash
# tls-implicit-stall: the seed incident on implicit TLS (SMTPS, port 465,
# RFC 8314): the lab client speaks TLS from the first byte; a 2 KiB message
# gets 250, a 1.2 MiB message is received and ACKed but its end-of-data is
# never answered; the client gives up after EOD_TIMEOUT, QUIT, closes.
NAME=tls-implicit-stall
EOD_TIMEOUT=${EOD_TIMEOUT:-10}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls-lib.sh"
lab_init
init_keys
start_capture
start_server --listen 127.0.0.1:465 --implicit-tls --stall-above 1048576 --stall-max 120s
run_client --server 127.0.0.1:465 --implicit-tls --keylog "$KEYS_FILE" --sessions "2k,1200k" --eod-timeout "${EOD_TIMEOUT}s" --quit-timeout 1s
stop_server
stop_capture
finish "one implicit-TLS session to 127.0.0.1:465: a 2 KiB message gets 250, then the relay receives and ACKs a 1.2 MiB message and its end-of-data but never replies; the client times out after ${EOD_TIMEOUT} s, sends QUIT and closes" \
	--diag 'delivered=none:ok' --diag 'no-reply=L7:eod-no-reply' \
	--param eod_timeout_s="$EOD_TIMEOUT" --param quit_timeout_s=1 --param stall_above_bytes=1048576 --param server_port=465 \
	--note "Inside TLS the capture shows records, not commands: the outcomes can only be inferred."
keep_keys
want_streams 1
want_retrans eq 0
want 'tls.handshake.type==1' eq 1
wantk 'tcp.srcport==465 and smtp.response.code==250 and smtp.rsp.parameter contains "queued"' eq 1
log verified
