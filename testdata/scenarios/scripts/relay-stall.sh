#!/usr/bin/env bash
# relay-stall: the seed incident. One session: a 2 KiB message is delivered
# (250), then a 1.2 MiB message (over the relay's 1 MiB threshold) is received
# in full and ACKed, but its end-of-data is never answered. The client waits
# EOD_TIMEOUT, sends QUIT (also unanswered), waits 1 s and closes; the server
# then closes too. TCP stays healthy throughout: no loss, no RST.
NAME=relay-stall
EOD_TIMEOUT=${EOD_TIMEOUT:-10}
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --stall-above 1048576 --stall-max 120s
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout "${EOD_TIMEOUT}s" --quit-timeout 1s
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250, then the relay receives and ACKs a 1.2 MiB message and its end-of-data dot but never replies; the client times out after ${EOD_TIMEOUT} s (the site reports 421 4.4.2 Connection dropped), sends QUIT and closes" \
	--diag 'delivered=none:ok' --diag 'no-reply=L7:eod-no-reply' \
	--param eod_timeout_s="$EOD_TIMEOUT" --param quit_timeout_s=1 --param stall_above_bytes=1048576 --param server_port=25 \
	--note "The client keeps the message queued as 4.4.2 (Postfix: 'conversation with ... timed out while sending end of data -- message may be sent more than once')."

# the capture must show it
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $ZEROWIN -eq 0 ]] || die "zero window seen"
mapfile -t eods < <(eod_frames)
[[ ${#eods[@]} -eq 2 ]] || die "want 2 end-of-data segments, got ${#eods[@]}"
read -r eod_frame eod_t _ <<<"${eods[1]}"
# after the second end-of-data: the server sends ACKs only (no payload) until the client's FIN
srv_payload=$(ts -Y "frame.number>$eod_frame and tcp.srcport==25 and tcp.len>0" -T fields -e frame.number | wc -l)
[[ $srv_payload -eq 0 ]] || die "server sent $srv_payload segment(s) with payload after the end-of-data"
srv_acks=$(ts -Y "frame.number>$eod_frame and tcp.srcport==25 and tcp.len==0 and tcp.flags.fin==0" -T fields -e frame.number | wc -l)
[[ $srv_acks -ge 1 ]] || die "no server ACK after end-of-data"
quit_t=$(ts -Y 'smtp.req.command=="QUIT"' -T fields -e frame.time_relative | head -1)
awk -v a="$eod_t" -v b="$quit_t" -v t="$EOD_TIMEOUT" 'BEGIN { exit !(b - a >= t) }' || die "QUIT came $quit_t - $eod_t < $EOD_TIMEOUT s after end-of-data"
[[ $(count 'tcp.srcport==25 and smtp.response.code==250 and smtp.rsp.parameter contains "queued"') -eq 1 ]] || die "want exactly one 250 queued"
log "verified: end-of-data frame $eod_frame at ${eod_t}s, QUIT at ${quit_t}s, $srv_acks bare server ACK(s) after it, no reply"
