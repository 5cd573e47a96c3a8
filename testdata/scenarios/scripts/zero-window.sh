#!/usr/bin/env bash
# zero-window: one session; a 2 KiB message gets 250; 256 KiB into the 1 MiB
# message the server stops reading for 5 s. Its receive buffer (SO_RCVBUF
# 64 KiB) fills, it advertises a zero window, the client sends zero-window
# probes (empty segments one below snd_una: Wireshark calls them keep-alives); then the server reads again, the transfer resumes and gets 250.
NAME=zero-window
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --rcvbuf 65536 --window-stall 5s --window-stall-after 262144
run_client --server 127.0.0.1:25 --sessions "2k,1m" --eod-timeout 10s --data-timeout 60s
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; the server stops reading for 5 s 256 KiB into a 1 MiB message (zero window, probes), then resumes; 250" \
	--diag '1.2=L4:zero-window-stall' --diag '*=none:ok' --param server_port=25 --param window_stall_s=5 --param server_rcvbuf=65536
want_streams 1
[[ $(queued) -eq 2 ]] || die "want two 250 queued"
want 'tcp.srcport==25 and tcp.analysis.zero_window' ge 1
# Linux probes a zero window with an empty segment one below snd_una, which
# Wireshark labels "keep-alive" rather than "zero window probe"
want 'tcp.srcport==40001 and (tcp.analysis.zero_window_probe or tcp.analysis.keep_alive)' ge 1
want_rst eq 0
log verified
