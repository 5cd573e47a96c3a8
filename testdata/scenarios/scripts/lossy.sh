#!/usr/bin/env bash
# lossy: the healthy traffic over a path that loses 2% of the packets going
# to the relay (iptables statistic match; the kernel here has no netem).
# Everything is delivered after retransmissions. Random: each run differs.
#
# The rule sits in INPUT and matches only packets to port 25. In OUTPUT it
# would not work: a locally generated packet dropped there makes the sender's
# transmit call fail (EPERM) and TCP just sends it again, so nothing on the
# wire looks like loss. In INPUT the packet has already crossed the loopback
# (and the capture) and is lost on the way in. Dropping only client->server
# packets keeps the capture physically consistent with a tap at the client:
# it shows the client's segments as sent (then their retransmissions) and the
# server's as the client receives them.
NAME=lossy
LAB_TLP=1 # keep the kernel's loss recovery as is
source "$(dirname "$0")/lib.sh"
lab_init
nsexec iptables -A INPUT -p tcp --dport 25 -m statistic --mode random --probability 0.02 -j DROP
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,100k,1m;2k,100k,1m" --eod-timeout 30s --cmd-timeout 30s
stop_server
stop_capture
dropped=$(nsexec iptables -L INPUT -v -x -n | awk '/statistic/ { print $1 }')
finish "two sessions to 127.0.0.1:25 (2 KiB, 100 KiB, 1 MiB each) over a path losing 2% of the client-to-server packets at random; all delivered after retransmissions" \
	--diag 'retrans=L4:packet-loss' --diag '*=none:ok' --param loss_probability=0.02 --param loss_direction=client-to-server --param server_port=25 \
	--param iptables_dropped_packets="$dropped" \
	--note "A message is diagnosed packet-loss when the client's socket retransmitted during it (TCP_INFO tcpi_total_retrans); the server's retransmissions are in server_view.tcp_retrans per session."
want_streams 2
[[ $(queued) -eq 6 ]] || die "want six 250 queued"
want_retrans ge 1
log "verified: iptables dropped $dropped packet(s)"
