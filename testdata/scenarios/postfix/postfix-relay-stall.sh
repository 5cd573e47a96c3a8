#!/usr/bin/env bash
# postfix-relay-stall: the seed incident with a real Postfix as the sending
# MTA. The lab client submits a 2 KiB and a 1.2 MiB message to Postfix
# (smtpd, 127.0.0.1:25); Postfix relays each to the lab relay
# ([127.0.0.2]:25), which answers the 2 KiB message's end-of-data with 250
# but never answers the 1.2 MiB one's. Postfix's smtp_data_done_timeout is
# 10 s here (600 s by default): it logs "conversation with … timed out while
# sending end of data -- message may be sent more than once" and defers.
NAME=postfix-relay-stall
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.2:25 --stall-above 1048576 --stall-max 60s
pf_start "smtp_data_done_timeout = 10s"
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
pf_wait 2
pf_stop
stop_server
stop_capture
EXPECT_JSON='{"scenario": "postfix-relay-stall",
 "connections": [
  {"server": "127.0.0.1:25", "log_role": "server", "log_stage": "connect", "outcomes": [], "note": "pf_start probing the port"},
  {"client": "127.0.0.1:40001", "server": "127.0.0.1:25", "log_role": "server", "outcomes": ["delivered", "delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "sent", "outcomes": ["delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "deferred", "log_stage": "end-of-data", "outcomes": ["no-reply"]}]}'
pf_finish
grep -q 'timed out while sending end of data' "$OUT_DIR/$NAME.maillog" || die "no data-done timeout in the maillog"
grep -q 'status=sent' "$OUT_DIR/$NAME.maillog" || die "the 2 KiB message was not sent"
want_streams 4
log verified
