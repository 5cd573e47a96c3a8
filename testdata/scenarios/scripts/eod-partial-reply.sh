#!/usr/bin/env bash
# eod-partial-reply: one session; a 2 KiB message gets 250; after the 1.2 MiB
# message's end-of-data the server writes only "250 2.0.0 OK: qu" (no CRLF)
# and then nothing more, as a relay dying in mid-write. The client, which
# never gets a complete reply line, times out after 10 s, sends QUIT
# (unanswered), waits 1 s and closes.
NAME=eod-partial-reply
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25 --partial-reply "250 2.0.0 OK: qu" --partial-above 1048576 --stall-max 120s
run_client --server 127.0.0.1:25 --sessions "2k,1200k" --eod-timeout 10s --quit-timeout 1s
stop_server
stop_capture
finish "one session to 127.0.0.1:25: a 2 KiB message gets 250; after a 1.2 MiB message's end-of-data the server sends only '250 2.0.0 OK: qu' with no CRLF and stalls; the client times out after 10 s, QUITs and closes" \
	--diag 'delivered=none:ok' --diag 'no-reply=L7:eod-partial-reply' \
	--param eod_timeout_s=10 --param quit_timeout_s=1 --param server_port=25 --param partial_reply="250 2.0.0 OK: qu"
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 1 ]] || die "want one complete 250 queued"
mapfile -t eods < <(eod_frames)
[[ ${#eods[@]} -eq 2 ]] || die "want 2 end-of-data segments, got ${#eods[@]}"
read -r eod_frame _ _ <<<"${eods[1]}"
mapfile -t after < <(ts -Y "frame.number>$eod_frame and tcp.srcport==25 and tcp.len>0" -T fields -e tcp.payload)
[[ ${#after[@]} -eq 1 && "${after[0]//:/}" == "$(printf '250 2.0.0 OK: qu' | od -An -tx1 | tr -d ' \n')" ]] \
	|| die "want exactly the partial reply after the end-of-data, got ${after[*]:-nothing}"
log verified
