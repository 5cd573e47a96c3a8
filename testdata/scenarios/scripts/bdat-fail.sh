#!/usr/bin/env bash
# bdat-fail: one session with RFC 3030 CHUNKING, as in bdat, where the server
# refuses a message: a 2 KiB message in one "BDAT n LAST" gets 250; a 1 MiB
# message goes in four 256 KiB chunks, each intermediate BDAT answered 250
# (go-smtp acknowledges a chunk once it has read it), and the reply to
# "BDAT n LAST" is "552 5.3.4" (the server's --reply-code knob: its data
# handler returns an *smtp.SMTPError once the whole message is read, which
# go-smtp sends as the reply to the last chunk). The client keeps the session
# and QUITs normally.
NAME=bdat-fail
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --reply-code 552 --reply-enh 5.3.4 \
	--reply-text "Message size exceeds fixed maximum message size" --reply-above 524288
run_client --server 127.0.0.1:25 --proto bdat --bdat-chunk 262144 --sessions "2k,1m" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25 with CHUNKING: a 2 KiB message in one BDAT LAST gets 250; a 1 MiB message in four 256 KiB BDAT chunks, the first three answered 250, BDAT ... LAST answered 552 5.3.4; the client QUITs" \
	--diag 'delivered=none:ok' --diag 'rejected=L7:rejected' --param server_port=25 --param bdat_chunk_bytes=262144 \
	--param eod_timeout_s=10 \
	--note "With BDAT, wire_bytes is the message itself: chunks carry it unstuffed and there is no end-of-data line; the final reply (here 552) answers BDAT ... LAST."
want_streams 1
want_retrans eq 0
want_rst eq 0
want 'smtp.req.command=="DATA"' eq 0
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
want 'tcp.srcport==25 and smtp.response.code==552' eq 1
n=$(ts -Y 'tcp.dstport==25 and tcp.payload' -T fields -e tcp.payload | tr -d ':' | grep -c '^42444154' || true)
[[ $n -eq 5 ]] || die "want 5 segments starting with BDAT, got $n"
# the 552 must answer the last chunk: the client sends no BDAT after it, and
# the server's replies after the 2 KiB message's 250 are 250, 250, 250, 552
codes=$(ts -Y 'tcp.srcport==25 and smtp.response.code' -T fields -e smtp.response.code | tr '\n' ' ')
[[ $codes == *"250 250 250 250 552 221 "* ]] || die "want chunk replies 250 250 250 then 552 to BDAT LAST, got: $codes"
grep '"msg":2,' "$OUT_DIR/$NAME.client.jsonl" | grep -q '"outcome":"rejected"' || die "client did not log message 2 rejected"
log verified
