#!/usr/bin/env bash
# pipelining: one session with RFC 2920 PIPELINING: MAIL, RCPT and DATA go out
# in one segment, the three replies come back; then the body. 2 KiB, 100 KiB
# and 1 MiB, all 250. (go-smtp's client does not pipeline: the lab's raw
# client does, on net/textproto.)
NAME=pipelining
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --proto pipelining --sessions "2k,100k,1m" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25 with PIPELINING (MAIL+RCPT+DATA in one write): 2 KiB, 100 KiB, 1 MiB, all 250" \
	--diag '*=none:ok' --param server_port=25
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 3 ]] || die "want three 250 queued"
# each MAIL shares its segment with RCPT and DATA
n=$(ts -Y 'smtp.req.command=="MAIL"' -T fields -e smtp.req.command | grep -c 'MAIL,RCPT,DATA' || true)
[[ $n -eq 3 ]] || die "want 3 segments carrying MAIL,RCPT,DATA, got $n"
log verified
