#!/usr/bin/env bash
# connect-refused: nothing listens on port 25; the client's SYN is answered
# with RST/ACK. No SMTP at all.
NAME=connect-refused
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
no_server
run_client --server 127.0.0.1:25 --sessions "2k" --connect-timeout 5s
stop_capture
finish "one connection attempt to 127.0.0.1:25 where nothing listens: SYN, RST/ACK" \
	--session-diag '*=L4:connect-refused' --param server_port=25
want_streams 1
want 'tcp.flags.syn==1 and tcp.flags.ack==0' eq 1
want 'tcp.srcport==25 and tcp.flags.reset==1' eq 1
want smtp eq 0
log verified
