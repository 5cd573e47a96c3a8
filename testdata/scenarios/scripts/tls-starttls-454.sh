#!/usr/bin/env bash
# tls-starttls-454: the server offers STARTTLS but answers it "454 4.7.0 TLS
# not available due to temporary reason" (RFC 3207 §4; a server whose
# certificate cannot be loaded does this). The client, with opportunistic
# TLS, goes on in plaintext: EHLO again and the message, delivered.
NAME=tls-starttls-454
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --starttls --starttls-refuse 454
run_client --server 127.0.0.1:25 --starttls-opportunistic --sessions "2k"
stop_server
stop_capture
grep -q '"starttls":"refused 454"' "$WORK/client.jsonl" || die "the client did not meet a 454: $(cat "$WORK/client.jsonl")"
finish "one session to 127.0.0.1:25: STARTTLS offered, answered 454 4.7.0; the client goes on in plaintext and the 2 KiB message is delivered (250)" \
	--diag '*=none:ok' --session-diag '*=TLS:starttls-refused' --param server_port=25
want_streams 1
want 'smtp.response.code==454' eq 1
want 'tls' eq 0
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
log verified
