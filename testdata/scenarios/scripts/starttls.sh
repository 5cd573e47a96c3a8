#!/usr/bin/env bash
# starttls: one session; EHLO, STARTTLS, 220, a TLS handshake with a
# self-signed certificate the server generated at start (the client does not
# verify it), then EHLO again and two messages (2 KiB, 100 KiB), all inside
# TLS: a capture can see the envelope of neither. The session ends with an
# RST from the server (see below).
NAME=starttls
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --starttls
run_client --server 127.0.0.1:25 --starttls --sessions "2k,100k" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25 that upgrades with STARTTLS (self-signed certificate) and delivers 2 KiB and 100 KiB inside TLS; both 250" \
	--diag '*=none:ok' --param server_port=25 \
	--note "Both messages were delivered (250): inside TLS the capture shows two answered message-sized flights (outcome unknown: a 250 and a 5xx look alike encrypted). go-smtp's client sends EHLO localhost."
want_streams 1
# Wireshark 4.0 splits the command as "STAR" + "TLS": match the line
want 'smtp.command_line contains "STARTTLS"' eq 1
want 'tcp.srcport==25 and smtp.response.code==220' eq 2
want 'tls.handshake.type==1' eq 1
want 'smtp.req.command=="MAIL"' eq 0
# At the end the server sends 221, its TLS close_notify and FIN; the client's
# own close_notify then reaches a closed socket, which answers RST: Go's TLS
# stack on both sides, as is. That RST must be the last frame.
want 'tcp.flags.reset==1' le 1
last=$(ts -T fields -e frame.number | tail -1)
want "tcp.flags.reset==1 and frame.number<$last" eq 0
log verified
