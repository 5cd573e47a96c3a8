#!/usr/bin/env bash
# rcpt-reject: one session, three 2 KiB messages. The second is addressed to
# nobody@relay.lab.test, which the server refuses at RCPT with 550 5.1.1; the
# client sends RSET (no DATA) and goes on. The other two get 250.
NAME=rcpt-reject
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --rcpt-reject nobody@relay.lab.test
run_client --server 127.0.0.1:25 --sessions "2k,2k,2k" --rcpt-override "1.2=nobody@relay.lab.test"
stop_server
stop_capture
finish "one session to 127.0.0.1:25, three 2 KiB messages; the second's only recipient is refused at RCPT with 550 5.1.1, the client sends RSET and continues; the others get 250" \
	--diag 'delivered=none:ok' --diag 'rejected=L7:rejected' --param server_port=25 \
	--note "The rejected message never reaches DATA: wire_bytes is null."
want_streams 1
want_rst eq 0
[[ $(queued) -eq 2 ]] || die "want two 250 queued"
want 'tcp.srcport==25 and smtp.response.code==550' eq 1
want 'smtp.req.command=="RSET"' eq 1
want 'smtp.req.command=="DATA"' eq 2
log verified
