#!/usr/bin/env bash
# tls-starttls-masked: a firewall's ESMTP inspection (Cisco ASA "inspect
# esmtp") rewrites the EHLO reply, masking STARTTLS as XXXXXXXA (same
# length). The client sees no STARTTLS and, with opportunistic TLS, sends
# the message in plaintext; it is delivered. (The lab server masks its own
# reply, byte for byte as the firewall would.)
NAME=tls-starttls-masked
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --starttls --mask-starttls
run_client --server 127.0.0.1:25 --starttls-opportunistic --sessions "2k"
stop_server
stop_capture
grep -q '"starttls":"not-offered"' "$WORK/client.jsonl" || die "the client saw STARTTLS: $(cat "$WORK/client.jsonl")"
finish "one session to 127.0.0.1:25 whose EHLO reply shows 250-XXXXXXXA where the server offered STARTTLS (firewall ESMTP inspection); the client sends the 2 KiB message in plaintext, delivered (250)" \
	--diag '*=none:ok' --session-diag '*=TLS:starttls-stripped' --param server_port=25
want_streams 1
want 'smtp.rsp.parameter contains "XXXXXXXA"' eq 1
want 'tls' eq 0
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
log verified
