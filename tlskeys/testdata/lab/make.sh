#!/usr/bin/env bash
# make.sh — records SMTP over TLS between real peers, with their key logs,
# for the tlskeys tests. Run as root from anywhere:
#
#     sudo tlskeys/testdata/lab/make.sh
#
# Peers: smtpd.py (Python ssl = OpenSSL, STARTTLS or implicit TLS) against
# smtplib (client.py) and `openssl s_client -starttls smtp` / implicit TLS,
# each session told to use one version and suite. The key log lines come
# from the side named per session (Python's keylog_filename, openssl's
# -keylogfile). One session's keys are left out on purpose (no key).
#
# Everything runs in a network namespace of its own with nothing but lo
# (deleted on exit, with every process in it); every address is 127.0.0.1.
# Peers are pinned to CPU 0, tcpdump to CPU 1. Every wait is bounded. The
# set-up (namespace, certificate, tcpdump, smtpd.py, client.py) is lab.sh's,
# shared with testdata/starttls-offer/make.sh.
#
# Outputs (in tlskeys/testdata/):
#   tls-sessions.pcapng          the capture (pcapng, no keys inside)
#   tls-sessions.keys            the key log of every session but the last
#   tls-sessions.dsb.pcapng      the same capture with the key log in a
#                                Decryption Secrets Block (editcap --inject-secrets)
#   tls-sessions.server.jsonl    what the server logged: client port, TLS
#                                version and cipher per connection
#   tls-sessions.alerts.tsv      every alert tshark sees with the key log (in
#                                clear or decrypted): stream, port, level, description
#   tls-sessions.tshark.tsv      tshark's decryption, the reference:
#     tshark -o tls.keylog_file:tls-sessions.keys -Y smtp -T fields -E aggregator='|'
#            -e tcp.stream -e tcp.srcport -e smtp.req.command -e smtp.response.code
#            -e smtp.rsp.parameter
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "$HERE/.." && pwd)
# shellcheck source=lab.sh
. "$HERE/lab.sh"
lab_start tlskeys-lab 'tcp port 25 or tcp port 465'

NCLIENT=0
# openssl s_client speaking SMTP from stdin, one line every 0.2 s: lower-case
# verbs so that no line starts with one of its command letters (Q, R), and a
# lone "k" that asks it to send a TLS 1.3 KeyUpdate when $2 says so.
ossl_client() { # source port, keyupdate yes/no, s_client args
	local sport=$1 ku=$2; shift 2
	NCLIENT=$((NCLIENT + 1))
	{
		sleep 0.5
		for l in "ehlo client.lab.test" "mail from:<sender@client.lab.test>" "rcpt to:<rcpt@relay.lab.test>" \
			"rcpt to:<nobody@relay.lab.test>" data "Subject: tlskeys lab" "" "body line one" "body line two" .; do
			printf '%s\n' "$l"; sleep 0.2
		done
		[[ $ku == yes ]] && { printf 'k\n'; sleep 0.3; }
		printf 'noop\n'; sleep 0.2
		printf 'quit\n'; sleep 1
	} | in_ns taskset -c 0 timeout 20 openssl s_client -connect 127.0.0.1:"${PORT:-25}" -bind 127.0.0.1:"$sport" -crlf -keylogfile "$WORK/keys.$sport.$NCLIENT" "$@" >"$WORK/s_client.$sport.$NCLIENT.out" 2>&1 || true
	wait "$SERVER"
}

# 1: Python both sides, TLS 1.3, OpenSSL's own choice of suite; client logs keys.
lab_server; lab_py_client 40001 --keylog "$WORK/keys.40001"
# 2-3: openssl s_client STARTTLS, TLS 1.3 suites chosen, KeyUpdate in 2.
lab_server; ossl_client 40002 yes -starttls smtp -name client.lab.test -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
lab_server; ossl_client 40003 no -starttls smtp -name client.lab.test -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
# 4-6: TLS 1.2 AEAD suites, Python both sides; the server logs keys.
lab_server --max TLSv1_2 --keylog "$WORK/keys.40004" --ciphers ECDHE-RSA-AES128-GCM-SHA256; lab_py_client 40004
lab_server --max TLSv1_2 --keylog "$WORK/keys.40005" --ciphers ECDHE-RSA-AES256-GCM-SHA384; lab_py_client 40005
lab_server --max TLSv1_2 --keylog "$WORK/keys.40006" --ciphers ECDHE-RSA-CHACHA20-POLY1305; lab_py_client 40006
# 7-8: TLS 1.2 CBC suites from openssl, encrypt_then_mac negotiated (OpenSSL's default).
lab_server --max TLSv1_2 --ciphers ECDHE-RSA-AES128-SHA; ossl_client 40007 no -starttls smtp -name client.lab.test -tls1_2 -cipher ECDHE-RSA-AES128-SHA
lab_server --max TLSv1_2 --ciphers AES256-SHA256; ossl_client 40008 no -starttls smtp -name client.lab.test -tls1_2 -cipher AES256-SHA256
# 9: TLS 1.2 CBC, MAC-then-encrypt (the server refuses encrypt_then_mac).
lab_server --max TLSv1_2 --no-etm --keylog "$WORK/keys.40009" --ciphers ECDHE-RSA-AES256-SHA384; lab_py_client 40009
# 10: implicit TLS on port 465, TLS 1.3 AES-256-GCM.
PORT=465 lab_server --port 465 --implicit; PORT=465 ossl_client 40010 no -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384
# 11: keys not logged by anyone: the decrypter must say "no key".
lab_server; lab_py_client 40011
# 12: TLS 1.3 after a HelloRetryRequest: the server accepts only P-256,
# s_client sends an X25519 key share first.
lab_server --curve prime256v1; ossl_client 40012 no -starttls smtp -name client.lab.test -tls1_3
# 13: the client rejects the server's self-signed certificate: in TLS 1.3
# its alert (unknown_ca) is encrypted under its handshake keys.
lab_server; ossl_client 40013 no -starttls smtp -name client.lab.test -tls1_3 -verify_return_error
# 14-31: resumption, implicit TLS: a full handshake, then five resumed ones
# (s_client -reconnect, ephemeral ports) that close after the handshake,
# the last one speaking SMTP. TLS 1.2 by session ticket, TLS 1.2 by session
# ID (-no_ticket), TLS 1.3 by PSK.
PORT=465 lab_server --port 465 --implicit --max TLSv1_2 --count 6; PORT=465 ossl_client 0 no -tls1_2 -reconnect
PORT=465 lab_server --port 465 --implicit --max TLSv1_2 --count 6; PORT=465 ossl_client 0 no -tls1_2 -no_ticket -reconnect
PORT=465 lab_server --port 465 --implicit --count 6; PORT=465 ossl_client 0 no -tls1_3 -reconnect

lab_stop_capture

cat "$WORK"/keys.* | grep -v '^#' >"$WORK/all.keys"
cp "$WORK/all.keys" "$OUT/tls-sessions.keys"
editcap -F pcapng "$WORK/raw.pcap" "$OUT/tls-sessions.pcapng"
editcap --inject-secrets tls,"$OUT/tls-sessions.keys" "$OUT/tls-sessions.pcapng" "$OUT/tls-sessions.dsb.pcapng"
cp "$WORK/server.jsonl" "$OUT/tls-sessions.server.jsonl"
tshark -r "$OUT/tls-sessions.pcapng" -o tls.keylog_file:"$OUT/tls-sessions.keys" -Y smtp -T fields \
	-E aggregator='|' -e tcp.stream -e tcp.srcport -e smtp.req.command -e smtp.response.code -e smtp.rsp.parameter \
	>"$OUT/tls-sessions.tshark.tsv"
grep -c . "$OUT/tls-sessions.server.jsonl" | grep -qx 31 || { echo "server logged $(grep -c . "$OUT/tls-sessions.server.jsonl") sessions, want 31" >&2; cat "$OUT/tls-sessions.server.jsonl" >&2; exit 1; }
# Sessions 1-12 end well; 13 ends with the client's alert.
head -12 "$OUT/tls-sessions.server.jsonl" | grep -q -e error -e ended && { cat "$OUT/tls-sessions.server.jsonl" >&2; exit 1; }
sed -n 13p "$OUT/tls-sessions.server.jsonl" | grep -q "unknown ca" || { sed -n 13p "$OUT/tls-sessions.server.jsonl" >&2; exit 1; }
[[ $(grep -c '"resumed": true' "$OUT/tls-sessions.server.jsonl") -ge 10 ]] || { echo "too few resumed sessions" >&2; cat "$OUT/tls-sessions.server.jsonl" >&2; exit 1; }
tshark -r "$OUT/tls-sessions.pcapng" -o tls.keylog_file:"$OUT/tls-sessions.keys" -Y tls.alert_message -T fields \
	-E aggregator='|' -e tcp.stream -e tcp.srcport -e tls.alert_message.level -e tls.alert_message.desc \
	>"$OUT/tls-sessions.alerts.tsv"
echo "wrote $OUT/tls-sessions.{pcapng,dsb.pcapng,keys,server.jsonl,tshark.tsv,alerts.tsv}"
