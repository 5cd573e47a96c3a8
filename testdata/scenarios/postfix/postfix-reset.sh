#!/usr/bin/env bash
# postfix-reset: Postfix relays a 2 KiB and a 1 MiB message to the lab
# relay, which resets the connection (RST) 256 KiB into the large one's
# body: Postfix logs status=deferred (lost connection with … while sending
# message body).
NAME=postfix-reset
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.2:25 --reset-during-data 262144 --rcvbuf 131072
pf_start
run_client --server 127.0.0.1:25 --sessions "2k,1m" --eod-timeout 10s
pf_wait 2
pf_stop
stop_server
stop_capture
EXPECT_JSON='{"scenario": "postfix-reset",
 "connections": [
  {"server": "127.0.0.1:25", "log_role": "server", "log_stage": "connect", "outcomes": [], "note": "pf_start probing the port"},
  {"client": "127.0.0.1:40001", "server": "127.0.0.1:25", "log_role": "server", "outcomes": ["delivered", "delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "sent", "outcomes": ["delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "deferred", "log_stage": "body", "outcomes": ["aborted"]}]}'
pf_finish
grep -q 'lost connection with .* while sending message body' "$OUT_DIR/$NAME.maillog" || die "no lost connection in the maillog"
want_streams 4
log verified
