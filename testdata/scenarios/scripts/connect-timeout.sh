#!/usr/bin/env bash
# connect-timeout: the server listens but a firewall rule drops every SYN to
# port 25; the client's SYN and its retransmissions (1 s apart: this kernel's
# net.ipv4.tcp_syn_linear_timeouts=4 makes the first four retries linear) go
# unanswered until its 7 s connect timeout.
NAME=connect-timeout
source "$(dirname "$0")/lib.sh"
lab_init
nsexec iptables -A INPUT -p tcp --dport 25 --syn -j DROP
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k" --connect-timeout 7s
stop_server
stop_capture
finish "one connection attempt to 127.0.0.1:25 whose SYNs are silently dropped; the client gives up after 7 s" \
	--session-diag '*=L4:connect-timeout' --param server_port=25 --param connect_timeout_s=7
want_streams 1
want 'tcp.flags.syn==1 and tcp.flags.ack==0' ge 3
want 'tcp.srcport==25' eq 0
log verified
