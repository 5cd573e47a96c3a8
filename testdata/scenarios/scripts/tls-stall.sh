#!/usr/bin/env bash
# tls-stall-12, tls-stall-13 (symlinks to this script; the name says the TLS
# version): the seed incident inside STARTTLS. One session upgrades with
# STARTTLS (lab client and server, crypto/tls, TLS 1.2 or 1.3 forced on the
# server), a 2 KiB message gets 250, then the relay receives and ACKs a
# 1.2 MiB message and its end-of-data but never answers; the client gives
# up after EOD_TIMEOUT, sends QUIT (unanswered), waits 1 s and closes.
NAME=$(basename "$0" .sh)
case $NAME in
tls-stall-12) VER=1.2 ;;
tls-stall-13) VER=1.3 ;;
*) echo "run as tls-stall-12.sh or tls-stall-13.sh" >&2; exit 2 ;;
esac
EOD_TIMEOUT=${EOD_TIMEOUT:-10}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls-lib.sh"
lab_init
init_keys
start_capture
start_server --listen 127.0.0.1:25 --starttls --tls-max-version "$VER" --stall-above 1048576 --stall-max 120s
run_client --server 127.0.0.1:25 --starttls --keylog "$KEYS_FILE" --sessions "2k,1200k" --eod-timeout "${EOD_TIMEOUT}s" --quit-timeout 1s
stop_server
stop_capture
finish "one session to 127.0.0.1:25 upgraded with STARTTLS (TLS $VER): a 2 KiB message gets 250, then the relay receives and ACKs a 1.2 MiB message and its end-of-data but never replies; the client times out after ${EOD_TIMEOUT} s, sends QUIT and closes" \
	--diag 'delivered=none:ok' --diag 'no-reply=L7:eod-no-reply' \
	--param eod_timeout_s="$EOD_TIMEOUT" --param quit_timeout_s=1 --param stall_above_bytes=1048576 --param server_port=25 --param tls_version="$VER" \
	--note "Inside TLS the capture shows records, not commands: the outcomes can only be inferred (the relay sent no record after the 1.2 MiB body)."
keep_keys
want_streams 1
want_retrans eq 0
want_rst le 1
want 'tls.handshake.type==1' eq 1
v=$(ts -Y 'tls.handshake.type==2' -T fields -e tls.handshake.extensions.supported_version -e tls.handshake.version | head -1)
case $VER in
1.2) [[ $v == *0x0303* && $v != *0x0304* ]] || die "ServerHello says $v, want TLS 1.2" ;;
1.3) [[ $v == *0x0304* ]] || die "ServerHello says $v, want TLS 1.3" ;;
esac
# with the keys: one 250 queued, end-of-data answered once only
wantk 'tcp.srcport==25 and smtp.response.code==250 and smtp.rsp.parameter contains "queued"' eq 1
log verified
