#!/usr/bin/env bash
# reset-injected-ttl: reset-injected, with a forger that gives itself away by
# its IP TTL. One session: a 2 KiB message gets 250; once the client has sent
# 400 kB on the connection, a firewall rule (iptables REJECT --reject-with
# tcp-reset, connbytes match) answers its segments with a forged RST "from"
# the server and drops them. The forged RSTs leave with IP TTL 200, the
# server's own packets with the kernel's 64, as when the injector sits some
# hops away and starts from another initial TTL.
#
# How the TTL is set: the RST is forged by the kernel's REJECT target, not by
# a socket of ours, so there is no socket option to set; instead a mangle
# OUTPUT rule rewrites the TTL of RSTs with source port 25 (the REJECT's RST
# goes out through ip_local_out, hence OUTPUT). The real server sends no RST
# in this scenario (its log shows an orderly close at shutdown, checked
# below), so only forged RSTs match. Loopback keeps TTLs as sent: tcpdump sees
# them after mangle.
#
# The client never learns the difference; the real server never sees a reset:
# it keeps waiting for the rest of the body until the script stops it, and
# its FIN then meets a closed client port, whose RSTs the REJECT rule eats.
NAME=reset-injected-ttl
FORGED_TTL=200
source "$(dirname "$0")/lib.sh"
lab_init
nsexec iptables -A INPUT -p tcp --dport 25 -m connbytes --connbytes 400000: \
	--connbytes-dir original --connbytes-mode bytes -j REJECT --reject-with tcp-reset
nsexec iptables -t mangle -A OUTPUT -p tcp --sport 25 --tcp-flags RST RST -j TTL --ttl-set "$FORGED_TTL"
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,1m" --eod-timeout 10s --sndbuf 65536
sleep 1
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; 400 kB into the connection a firewall injects a RST as if from the server, with IP TTL $FORGED_TTL where the server's packets have 64; the client aborts, the server, unaware, is stopped 1 s later" \
	--diag 'delivered=none:ok' --diag 'aborted=L4:reset-injected' --param server_port=25 --param inject_after_bytes=400000 --param client_sndbuf=65536 \
	--param forged_rst_ttl=$FORGED_TTL --param server_ttl=64 \
	--note "The forged RST comes from the namespace's netfilter, not from the server's socket: the server's log shows no reset; its close (at shutdown) comes after." \
	--note "The forged RSTs carry IP TTL $FORGED_TTL (set by an iptables mangle OUTPUT TTL rule on RSTs from port 25); every packet of the real server has TTL 64."
want_streams 1
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==25 and tcp.flags.reset==1' ge 1
want "tcp.srcport==25 and tcp.flags.reset==1 and ip.ttl!=$FORGED_TTL" eq 0
want "tcp.srcport==25 and tcp.flags.reset==0 and ip.ttl!=64" eq 0
want 'tcp.srcport==25 and tcp.flags.reset==0' ge 10
want "tcp.srcport==40001 and ip.ttl!=64" eq 0
[[ $(eod_frames | wc -l) -eq 1 ]] || die "want only the first message's end-of-data"
# the client must have been cut off while still writing the body
grep '"msg":2,' "$OUT_DIR/$NAME.client.jsonl" | grep -q '"stage":"body"' || die "client not cut off in the body"
# the real server sent no RST: it closed in order, at shutdown
if grep '"event":"close"' "$OUT_DIR/$NAME.server.jsonl" | grep -q '"how":"rst"'; then die "the server itself reset the connection"; fi
log verified
