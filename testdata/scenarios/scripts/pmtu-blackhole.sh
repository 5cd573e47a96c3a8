#!/usr/bin/env bash
# pmtu-blackhole: a path-MTU black hole. Four namespaces in a line, joined by
# veth pairs (nothing else: no route leaves them):
#
#   client 192.0.2.1 --1500-- r1 --1400-- r2 --1500-- server 198.51.100.2
#
# Both end hosts sit on 1500-byte links, so each advertises MSS 1460 and the
# client sends full-size 1500-byte packets with DF set. r1 cannot forward
# those onto its 1400-byte link and would say so with ICMP "fragmentation
# needed", but a firewall on r1 drops that ICMP (iptables OUTPUT), so path MTU
# discovery never learns and the client never shrinks its segments
# (tcp_mtu_probing=0, the kernel default, recorded). Small packets pass.
# (With only three namespaces the server would sit on the 1400-byte link and
# advertise MSS 1360: no black hole. The narrow link must be in the middle.)
#
# One session: a 1 KiB message (every packet under 1400 bytes) gets 250; the
# 1 MiB message's body starts with full-size segments that vanish: the client
# retransmits them with exponential backoff, none is ever acknowledged, its
# 15 s write timeout fires in the middle of the body and it closes (a QUIT
# would only queue behind the unsent body; its FIN does too). The end-of-data
# dot never leaves the client. Captured on the client's veth, as a tap at the
# client would see it.
NAME=pmtu-blackhole
CAP_IFACE=c0
source "$(dirname "$0")/lib.sh"
command -v iptables >/dev/null || die "missing iptables"
lab_init
R1="$NS-r1" R2="$NS-r2" SRV="$NS-s"
EXTRA_NS+=("$R1" "$R2" "$SRV")
SERVER_NS=$SRV
SYSCTLS+=";net.ipv4.tcp_mtu_probing=0"
DATA_TIMEOUT=15
for ns in "$R1" "$R2" "$SRV"; do ip netns add "$ns"; done
for ns in "$NS" "$R1" "$R2" "$SRV"; do
	# no IPv6 on the veths: no router solicitations or MLD reports in the capture
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
for ns in "$NS" "$SRV"; do
	IFS=';' read -ra kv <<<"$SYSCTLS"
	ip netns exec "$ns" sysctl -qw "${kv[@]}"
done
for ns in "$R1" "$R2"; do ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1; done
ip -n "$NS" link add c0 mtu 1500 type veth peer name r1a mtu 1500 netns "$R1"
ip -n "$R1" link add r1b mtu 1400 type veth peer name r2a mtu 1400 netns "$R2"
ip -n "$R2" link add r2b mtu 1500 type veth peer name s0 mtu 1500 netns "$SRV"
addr() { ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" gso_max_segs 1 up; }
addr "$NS" c0 192.0.2.1/24
addr "$R1" r1a 192.0.2.2/24
addr "$R1" r1b 203.0.113.1/24
addr "$R2" r2a 203.0.113.2/24
addr "$R2" r2b 198.51.100.1/24
addr "$SRV" s0 198.51.100.2/24
ip -n "$NS" route add default via 192.0.2.2
ip -n "$R1" route add 198.51.100.0/24 via 203.0.113.2
ip -n "$R2" route add 192.0.2.0/24 via 203.0.113.1
ip -n "$SRV" route add default via 198.51.100.1
# the black hole: r1's "fragmentation needed" never leaves it
ip netns exec "$R1" iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP
log "path ready: client -1500- r1 -1400- r2 -1500- server, ICMP fragmentation-needed dropped on r1"

start_capture
start_server --listen 198.51.100.2:25
run_client --server 198.51.100.2:25 --bind 192.0.2.1 --sessions "1k,1m" --data-timeout "${DATA_TIMEOUT}s" --cmd-timeout 10s --eod-timeout 10s
stop_server
stop_capture
icmp_dropped=$(ip netns exec "$R1" iptables -L OUTPUT -v -x -n | awk '/icmptype 3 code 4/ { print $1 }')
finish "one session from 192.0.2.1 to 198.51.100.2:25 across a path whose middle link has MTU 1400 and whose router drops its ICMP fragmentation-needed (a path-MTU black hole): a 1 KiB message gets 250; the 1 MiB message's full-size segments never arrive, the client's ${DATA_TIMEOUT} s write timeout fires in the middle of the body and it closes; the end-of-data is never sent" \
	--diag 'delivered=none:ok' --diag 'aborted=L4:pmtu-blackhole' \
	--param server_port=25 --param path_mtu=1400 --param link_mtu_client=1500 --param link_mtu_server=1500 \
	--param client_data_timeout_s="$DATA_TIMEOUT" --param icmp_frag_needed_dropped="$icmp_dropped" \
	--param topology="client 192.0.2.1 (veth c0, MTU 1500) - r1 - (MTU 1400) - r2 - server 198.51.100.2 (MTU 1500); iptables on r1: OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP" \
	--note "Captured on the client's veth (c0): what a tap at the client sees. No ICMP error reaches the client: r1's iptables counter shows the fragmentation-needed messages it dropped (settings.icmp_frag_needed_dropped)." \
	--note "Message 1 (1 KiB) fits in packets under 1400 bytes: delivered. Message 2: the client's full-size segments (1448 payload bytes, 1500-byte packets) are dropped at r1 and retransmitted with exponential backoff, never acknowledged; smaller segments get through and are acknowledged (selectively, behind the hole). The client gives up writing the body after ${DATA_TIMEOUT} s: the end-of-data dot never left it, so the transaction is aborted in the body, not unanswered ('no reply' would blame the relay for a dot it never got), and the cause is at L4." \
	--note "server_view: the server's SMTP layer got none of the body (the segments after the hole wait in its TCP out-of-order queue); it learns nothing until it is stopped after the client has gone; its FIN, which the client's kernel ACKs, ends the capture. The client's own FIN never leaves: it is queued behind the unsent body."

# the capture must show it
want_streams 1
want_rst eq 0
[[ $(count icmp) -eq 0 ]] || die "ICMP in the capture"
[[ ${icmp_dropped:-0} -ge 1 ]] || die "r1 dropped no ICMP fragmentation-needed"
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
[[ $(eod_frames | wc -l) -eq 1 ]] || die "want only the first message's end-of-data"
# full-size client segments (1448 bytes) are retransmitted again and again,
# and no acknowledgement ever covers one
full_rtx=$(count 'tcp.srcport==40001 and tcp.len==1448 and tcp.analysis.retransmission')
[[ $full_rtx -ge 4 ]] || die "want >= 4 retransmissions of full-size segments, got $full_rtx"
[[ $(count 'tcp.srcport==40001 and tcp.len>0 and tcp.len<1448 and tcp.analysis.retransmission') -eq 0 ]] || die "a small segment was retransmitted"
first_full=$(ts -Y 'tcp.srcport==40001 and tcp.len==1448' -T fields -e tcp.seq | head -1)
max_ack=$(ts -Y 'tcp.srcport==25 and tcp.flags.ack==1' -T fields -e tcp.ack | sort -n | tail -1)
[[ -n "$first_full" && $max_ack -le $first_full ]] || die "the server ACKed past the first full-size segment ($max_ack > $first_full)"
# every small client segment is acknowledged: cumulatively, or by SACK behind the hole
small_unacked=0
while read -r seq len; do
	end=$((seq + len))
	if [[ $end -le $max_ack ]]; then continue; fi
	[[ $(count "tcp.srcport==25 and tcp.options.sack_re==$end") -ge 1 ]] || small_unacked=$((small_unacked + 1))
done < <(ts -Y 'tcp.srcport==40001 and tcp.len>0 and tcp.len<1448' -T fields -e tcp.seq -e tcp.len)
[[ $small_unacked -eq 0 ]] || die "$small_unacked small client segment(s) never acknowledged"
# the retransmissions of the first full-size segment back off exponentially
mapfile -t rt < <(ts -Y "tcp.srcport==40001 and tcp.seq==$first_full and tcp.len==1448" -T fields -e frame.time_relative)
gaps=$(for ((i = 1; i < ${#rt[@]}; i++)); do awk -v a="${rt[i-1]}" -v b="${rt[i]}" 'BEGIN { printf "%.2f ", b - a }'; done)
awk -v g="$gaps" 'BEGIN { n = split(g, x, " "); if (n < 4) exit 1; for (i = 2; i <= n; i++) if (x[i] < 1.5 * x[i-1]) exit 1 }' ||
	die "retransmissions of the first full-size segment do not back off: gaps $gaps"
grep '"msg":2,' "$OUT_DIR/$NAME.client.jsonl" | grep '"stage":"body"' | grep -q '"error_kind":"timeout"' || die "client did not time out in the body"
echo "# first full-size client segment (relative seq $first_full) sent $((${#rt[@]})) times, gaps (s): $gaps; highest server ACK $max_ack; ICMP fragmentation-needed dropped on r1: $icmp_dropped" >>"$OUT_DIR/$NAME.tshark.txt"
log "verified: $full_rtx retransmissions of full-size segments, first one sent ${#rt[@]} times (gaps $gaps s), never ACKed (highest ACK $max_ack); small segments all acknowledged; r1 dropped $icmp_dropped ICMP frag-needed; no ICMP on the client's link"
