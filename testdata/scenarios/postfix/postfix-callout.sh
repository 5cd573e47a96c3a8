#!/usr/bin/env bash
# postfix-callout: Postfix verifies the recipient with the lab relay before
# it accepts it (reject_unverified_recipient): its verify service sends a
# probe on a connection of its own, MAIL FROM:<double-bounce@…>, RCPT
# TO:<…>, RSET, QUIT, with no DATA: a sender-verification callout (Postfix
# logs status=deliverable). Then it relays the 2 KiB message on another.
# No message fails: the probe's envelope is withdrawn, not aborted (#20).
NAME=postfix-callout
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.2:25
pf_start "smtpd_recipient_restrictions = reject_unverified_recipient"
run_client --server 127.0.0.1:25 --sessions "2k" --eod-timeout 20s
pf_wait 2 # the probe's status=deliverable, then the delivery's status=sent
pf_stop
stop_server
stop_capture
EXPECT_JSON='{"scenario": "postfix-callout",
 "connections": [
  {"server": "127.0.0.1:25", "log_role": "server", "log_stage": "connect", "outcomes": [], "note": "pf_start probing the port"},
  {"client": "127.0.0.1:40001", "server": "127.0.0.1:25", "log_role": "server", "outcomes": ["delivered"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "deliverable", "note": "the verify probe: MAIL, RCPT, RSET, QUIT", "outcomes": ["withdrawn"]},
  {"server": "127.0.0.2:25", "log_role": "client", "log_status": "sent", "outcomes": ["delivered"]}]}'
pf_finish
grep -q 'status=deliverable' "$OUT_DIR/$NAME.maillog" || die "no verify probe (status=deliverable) in the maillog"
want_streams 4
want 'smtp.req.command=="RSET"' eq 1
log verified
