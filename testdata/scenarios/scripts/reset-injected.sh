#!/usr/bin/env bash
# reset-injected: a middlebox kills the connection. One session: a 2 KiB
# message gets 250; once the client has sent 400 kB on the connection, a
# firewall rule (iptables REJECT --reject-with tcp-reset, connbytes match)
# answers its segments with a forged RST "from" the server and drops them.
# The client sees "connection reset"; the real server never does: it keeps
# waiting for the rest of the body until the script stops it, and its FIN then
# meets a closed client port, which answers RST.
NAME=reset-injected
source "$(dirname "$0")/lib.sh"
lab_init
nsexec iptables -A INPUT -p tcp --dport 25 -m connbytes --connbytes 400000: \
	--connbytes-dir original --connbytes-mode bytes -j REJECT --reject-with tcp-reset
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,1m" --eod-timeout 10s --sndbuf 65536
sleep 1
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; 400 kB into the connection a firewall injects a RST as if from the server; the client aborts, the server, unaware, is stopped 1 s later" \
	--diag 'delivered=none:ok' --diag 'aborted=L4:reset-injected' --param server_port=25 --param inject_after_bytes=400000 --param client_sndbuf=65536 \
	--note "The forged RST comes from the namespace's netfilter, not from the server's socket: the server's log shows no reset; its close (at shutdown) comes after."
want_streams 1
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==25 and tcp.flags.reset==1' ge 1
[[ $(eod_frames | wc -l) -eq 1 ]] || die "want only the first message's end-of-data"
# the client must have been cut off while still writing the body
grep '"msg":2,' "$OUT_DIR/$NAME.client.jsonl" | grep -q '"stage":"body"' || die "client not cut off in the body"
log verified
