#!/usr/bin/env bash
# slow-reply: one session; a 2 KiB message gets 250 at once; a 1.2 MiB message
# gets its 250 only after 8 s, close to the client's 10 s end-of-data timeout.
NAME=slow-reply
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --delay 8s --delay-above 1048576
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250 at once; a 1.2 MiB message's end-of-data is answered 250 after 8 s (client timeout 10 s)" \
	--diag '1.2=L7:slow-reply' --diag '*=none:ok' --param eod_timeout_s=10 --param server_delay_s=8 --param server_port=25
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 2 ]] || die "want two 250 queued"
mapfile -t eods < <(eod_frames)
read -r _ eod_t _ <<<"${eods[1]}"
reply_t=$(ts -Y 'tcp.srcport==25 and smtp.rsp.parameter contains "queued"' -T fields -e frame.time_relative | tail -1)
awk -v a="$eod_t" -v b="$reply_t" 'BEGIN { exit !(b - a >= 8 && b - a < 10) }' || die "250 came $reply_t - $eod_t s after end-of-data"
log "verified: 250 came $(awk -v a="$eod_t" -v b="$reply_t" 'BEGIN{print b-a}') s after end-of-data"
