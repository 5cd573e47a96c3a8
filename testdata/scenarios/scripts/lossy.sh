#!/usr/bin/env bash
# lossy: the healthy traffic over a path that drops 2% of packets at random
# (iptables statistic match; the kernel here has no netem). Everything is
# delivered after retransmissions. Random: each run differs.
#
# The rule sits in INPUT, not OUTPUT: a locally generated packet dropped in
# OUTPUT makes the sender's transmit call fail (EPERM) and TCP simply sends it
# again later, so nothing on the wire looks like loss. Dropped in INPUT, the
# packet has already crossed the loopback (and the capture) and is lost on
# the way in, as on a real path: the capture shows the original, then the
# retransmission, as a tap at the sender would.
NAME=lossy
LAB_TLP=1 # keep the kernel's loss recovery as is
source "$(dirname "$0")/lib.sh"
lab_init
nsexec iptables -A INPUT -m statistic --mode random --probability 0.02 -j DROP
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,100k,1m;2k,100k,1m" --eod-timeout 30s --cmd-timeout 30s
stop_server
stop_capture
dropped=$(nsexec iptables -L INPUT -v -x -n | awk '/statistic/ { print $1 }')
finish "two sessions to 127.0.0.1:25 (2 KiB, 100 KiB, 1 MiB each) over a path losing 2% of packets at random; all delivered after retransmissions" \
	--diag 'retrans=L4:packet-loss' --diag '*=none:ok' --param loss_probability=0.02 --param server_port=25 \
	--param iptables_dropped_packets="$dropped" \
	--note "A message is diagnosed packet-loss when the client's socket retransmitted during it (TCP_INFO tcpi_total_retrans); the server's retransmissions are in server_view.tcp_retrans per session."
want_streams 2
[[ $(queued) -eq 6 ]] || die "want six 250 queued"
want_retrans ge 1
log "verified: iptables dropped $dropped packet(s)"
