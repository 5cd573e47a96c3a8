#!/usr/bin/env bash
# tls-openssl-delivered: OpenSSL's s_client (another TLS stack than Go's)
# upgrades with STARTTLS to the lab server (TLS 1.3) and sends one message
# of about 2 KiB, delivered (250), then QUIT. s_client is fed its commands one at a
# time with pauses, as a person typing would.
NAME=tls-openssl-delivered
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls-lib.sh"
command -v openssl >/dev/null || die "missing openssl"
lab_init
init_keys
start_capture
start_server --listen 127.0.0.1:25 --starttls
msg() {
	printf 'Message-ID: <tls-openssl-delivered.s1.m1@client.lab.test>\r\nSubject: s_client\r\n\r\n'
	for i in $(seq 30); do printf 'line %02d of a message sent by openssl s_client over STARTTLS, 70 chars.\r\n' "$i"; done
}
{
	sleep 0.5
	for l in "EHLO openssl.lab.test" "MAIL FROM:<sender@client.lab.test>" "RCPT TO:<rcpt@relay.lab.test>" "DATA"; do
		printf '%s\r\n' "$l"; sleep 0.3
	done
	msg
	printf '.\r\n'
	sleep 0.5
	printf 'QUIT\r\n'
	sleep 0.5
} | timeout 30 ip netns exec "$NS" taskset -c "$CPU" openssl s_client -quiet -starttls smtp -connect 127.0.0.1:25 \
	-bind 127.0.0.1:40001 -servername relay.lab.test -keylogfile "$KEYS_FILE" -ign_eof >"$WORK/s_client.out" 2>"$WORK/s_client.err" || true
stop_server
stop_capture
grep -q '^250 2.0.0 OK: queued' "$WORK/s_client.out" || die "no 250 queued in s_client's output: $(cat "$WORK/s_client.out" "$WORK/s_client.err")"
# the client log the expect tool reads, from s_client's transcript
size=$(msg | wc -c)
cat >"$WORK/client.jsonl" <<JSON
{"type":"message","session":1,"msg":1,"client_port":40001,"server":"127.0.0.1:25","size":$size,"wire_bytes":$((size + 3)),"message_id":"<tls-openssl-delivered.s1.m1@client.lab.test>","proto":"openssl-s_client","outcome":"delivered","stage":"eod","reply_code":250,"enhanced_code":"2.0.0","reply_text":"OK: queued"}
{"type":"session","session":1,"server":"127.0.0.1:25","proto":"openssl-s_client","tls":true,"client_ip":"127.0.0.1","client_port":40001,"server_ip":"127.0.0.1","server_port":25,"connect":"ok","greeting_code":220,"close":"quit"}
JSON
finish "one session from openssl s_client -starttls smtp to 127.0.0.1:25 (TLS 1.3): one message of $size bytes, delivered (250 2.0.0 OK: queued), then QUIT" \
	--diag '*=none:ok' --param server_port=25 \
	--note "The client log is written by the script from s_client's transcript (s_client logs no JSON)."
keep_keys
want_streams 1
want 'tls.handshake.type==1' eq 1
wantk 'smtp.response.code==250 and smtp.rsp.parameter contains "queued"' eq 1
log verified
