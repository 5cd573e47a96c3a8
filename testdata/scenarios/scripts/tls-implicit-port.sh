#!/usr/bin/env bash
# tls-implicit-port: implicit TLS (RFC 8314) on a port nothing takes for
# SMTP, 127.0.0.1:4650, as a site may run SMTPS on: two sessions, 2 KiB and
# 100 KiB, then 1 MiB, all 250. Only `analyze --tls-ports 4650` reads it as
# mail (decode with: tshark -d tcp.port==4650,tls -d tls.port==4650,smtp); without it the
# connections are not on an SMTP port. Key log kept.
NAME=tls-implicit-port
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls-lib.sh"
DECODE=(-d tcp.port==4650,tls -d tls.port==4650,smtp)
lab_init
init_keys
start_capture
start_server --listen 127.0.0.1:4650 --implicit-tls
run_client --server 127.0.0.1:4650 --implicit-tls --keylog "$KEYS_FILE" --sessions "2k,100k;1m" --eod-timeout 10s
stop_server
stop_capture
finish "two implicit-TLS sessions to 127.0.0.1:4650 (a port of implicit TLS only --tls-ports names): 2 KiB and 100 KiB, then 1 MiB; all 250" \
	--diag '*=none:ok' --param server_port=4650 --param implicit_tls_port=4650 \
	--note "Analyse with --tls-ports 4650; inside TLS the capture shows records, not commands: without the key log the outcomes are inferred (answered, outcome unknown)."
keep_keys
want_streams 2
want_retrans eq 0
want 'tls.handshake.type==1' eq 2
wantk 'tcp.srcport==4650 and smtp.response.code==250 and smtp.rsp.parameter contains "queued"' eq 3
log verified
