#!/usr/bin/env bash
# postfix-eod-451: Postfix relays a 2 KiB and a 1.2 MiB message to the lab
# relay, which answers the large one's end-of-data "451 4.3.0": Postfix
# logs status=deferred (host … said: 451 4.3.0 … (in reply to end of DATA
# command)).
NAME=postfix-eod-451
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.2:25 --reply-code 451 --reply-enh 4.3.0 \
	--reply-text "Temporary local problem - please try later" --reply-above 1048576
pf_start
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
pf_wait 2
pf_stop
stop_server
stop_capture
EXPECT_JSON='{"scenario": "postfix-eod-451",
 "connections": [
  {"server": "127.0.0.1:25", "log_role": "server", "log_stage": "connect", "outcomes": [], "note": "pf_start probing the port"},
  {"client": "127.0.0.1:40001", "server": "127.0.0.1:25", "log_role": "server", "outcomes": ["delivered", "delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "sent", "outcomes": ["delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "deferred", "log_reply": 451, "log_stage": "end-of-data", "outcomes": ["deferred"]}]}'
pf_finish
grep -q 'said: 451 4.3.0' "$OUT_DIR/$NAME.maillog" || die "no 451 in the maillog"
want_streams 4
log verified
