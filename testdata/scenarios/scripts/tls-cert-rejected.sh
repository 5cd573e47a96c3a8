#!/usr/bin/env bash
# tls-cert-rejected-12, tls-cert-rejected-13 (symlinks; the name says the
# version): STARTTLS, then the client verifies the server's self-signed
# certificate against the system's roots and aborts the handshake with an
# alert (in clear in TLS 1.2; encrypted in TLS 1.3). No message is sent.
NAME=$(basename "$0" .sh)
case $NAME in
tls-cert-rejected-12) VER=1.2 ;;
tls-cert-rejected-13) VER=1.3 ;;
*) echo "run as tls-cert-rejected-12.sh or tls-cert-rejected-13.sh" >&2; exit 2 ;;
esac
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls-lib.sh"
lab_init
init_keys
start_capture
start_server --listen 127.0.0.1:25 --starttls --tls-max-version "$VER"
run_client --server 127.0.0.1:25 --starttls --tls-verify --keylog "$KEYS_FILE" --sessions "2k"
stop_server
stop_capture
grep -q 'x509: certificate signed by unknown authority' "$WORK/client.jsonl" || die "the client did not reject the certificate: $(cat "$WORK/client.jsonl")"
finish "one session to 127.0.0.1:25: STARTTLS accepted (220), TLS $VER; the client rejects the server's self-signed certificate (x509: certificate signed by unknown authority), aborts the handshake with an alert and the message is not sent" \
	--session-diag '*=TLS:tls-cert-rejected' --param server_port=25 --param tls_version="$VER"
keep_keys
want_streams 1
want 'tls.handshake.type==1' eq 1
if [[ $VER == 1.2 ]]; then
	want 'tls.handshake.type==11' eq 1
	want 'tls.alert_message.desc==42' eq 1 # Go's client: bad_certificate
else
	want 'tls.alert_message' eq 0 # encrypted
	wantk 'tls.alert_message.desc==42' eq 1
fi
log verified
