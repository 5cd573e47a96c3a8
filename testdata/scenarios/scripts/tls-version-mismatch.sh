#!/usr/bin/env bash
# tls-version-mismatch: STARTTLS to a server that speaks at most TLS 1.2,
# from a client that requires TLS 1.3: the server answers the ClientHello
# with a protocol_version alert, in clear; no message is sent.
NAME=tls-version-mismatch
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls-lib.sh"
lab_init
init_keys
start_capture
start_server --listen 127.0.0.1:25 --starttls --tls-max-version 1.2
run_client --server 127.0.0.1:25 --starttls --tls-min-version 1.3 --keylog "$KEYS_FILE" --sessions "2k"
stop_server
stop_capture
finish "one session to 127.0.0.1:25: STARTTLS accepted (220), but the client offers only TLS 1.3 and the server speaks at most TLS 1.2; the server sends a protocol_version alert and the message is not sent" \
	--session-diag '*=TLS:tls-version-mismatch' --param server_port=25
keep_keys
want_streams 1
want 'tls.handshake.type==1' eq 1
want 'tls.handshake.type==2' eq 0
want 'tls.alert_message.desc==70' eq 1
log verified
