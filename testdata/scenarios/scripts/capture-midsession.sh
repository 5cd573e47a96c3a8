#!/usr/bin/env bash
# capture-midsession: a healthy session (2 KiB and 100 KiB, both 250) whose
# capture starts late: the run is recorded whole, then editcap -r keeps only
# the frames after the server's reply to EHLO, as if tcpdump had been started
# in the middle of the session. Missing: the TCP handshake, the greeting, EHLO
# and its reply. Everything from the first MAIL on is there.
#
# What the capture can establish: both transactions, MAIL to the 250 after
# end-of-data, are whole in it, so both are delivered and nothing failed: the
# session is none/ok. The late start is a fact about the capture (a report
# should say the connection was joined mid-session), not a diagnosis: the
# capture layer is blamed only when it hides an outcome.
NAME=capture-midsession
ALLOW_LOST=1 # tshark may flag ACKs of bytes sent before the capture starts
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,100k" --eod-timeout 10s
stop_server
stop_capture

# keep the frames after the last segment of the EHLO reply (the one before
# the first MAIL)
tsraw() { tshark -n -r "$WORK/cap.pcap" "$@" 2>/dev/null; }
full_frames=$(tsraw -T fields -e frame.number | wc -l)
mail1=$(tsraw -Y 'smtp.req.command=="MAIL"' -T fields -e frame.number | head -1)
ehlo=$(tsraw -Y 'smtp.req.command=="EHLO"' -T fields -e frame.number | head -1)
[[ -n "$mail1" && -n "$ehlo" ]] || die "no EHLO/MAIL in the full capture"
ehlo_reply_end=$(tsraw -Y "frame.number<$mail1 and tcp.srcport==25 and tcp.len>0" -T fields -e frame.number | tail -1)
[[ $ehlo_reply_end -gt $ehlo ]] || die "no EHLO reply before the first MAIL"
first=$((ehlo_reply_end + 1))
editcap -r "$WORK/cap.pcap" "$WORK/cut.pcap" "$first-$full_frames"
mv "$WORK/cut.pcap" "$WORK/cap.pcap"

finish "one healthy session to 127.0.0.1:25 (2 KiB and 100 KiB, both answered 250 2.0.0) captured from the middle: the capture starts after the server's reply to EHLO (frames $first-$full_frames of the full run, editcap -r)" \
	--diag '*=none:ok' --param eod_timeout_s=10 --param server_port=25 \
	--capture-view starts_after=ehlo-reply --capture-view "missing=[\"tcp-handshake\",\"greeting\",\"ehlo\",\"ehlo-reply\"]" \
	--capture-view first_frame_of_full_run="$first" --capture-view full_run_frames="$full_frames" \
	--note "The capture is frames $first-$full_frames of the run's full capture (editcap -r): it starts with the first segment after the server's reply to EHLO. No SYN, no greeting (the peers logged 220), no EHLO: greeting_code and the client/server fields are the peers' account, not something this capture shows." \
	--note "Both transactions are whole in the capture, from MAIL to the 250 that answers the end-of-data: delivered, none/ok. The session and the headline are none/ok too: nothing failed and no outcome is hidden. capture/capture-incomplete is for a capture that hides an outcome; a capture that starts late should be reported (the connection was joined mid-session, its handshake and greeting are not in the file) without blaming the capture for the session."

# the capture must show it
want_streams 1
want_retrans eq 0
want_rst eq 0
want 'tcp.flags.syn==1' eq 0
want 'smtp.req.command=="EHLO" or smtp.response.code==220' eq 0
want 'smtp.req.command=="MAIL"' eq 2
[[ $(queued) -eq 2 ]] || die "want two 250 queued"
[[ $(eod_frames | wc -l) -eq 2 ]] || die "want both end-of-data segments"
first_cmd=$(ts -Y 'tcp.srcport==40001 and tcp.len>0' -T fields -e smtp.req.command | head -1)
[[ "$first_cmd" == MAIL ]] || die "the first client payload is $first_cmd, not MAIL"
log "verified: kept frames $first-$full_frames of $full_frames; no SYN, greeting or EHLO; 2 MAIL, 2 end-of-data, 2 x 250 queued; tshark flags $LOST segment(s) as not captured"
