#!/usr/bin/env bash
# snaplen: a healthy session (2 KiB and 100 KiB, both 250) recorded with
# tcpdump -s 96, as old tcpdumps did by default (68 or 96 bytes) and as many
# capture recipes still say. Every frame keeps its first 96 bytes: Ethernet
# (14), IPv4 (20), TCP with timestamps (32) and the first 30 bytes of the
# payload. TCP is whole (sequence numbers, ACKs, lengths, timing); SMTP is not.
#
# What the capture can establish: the connection and its TCP health, and the
# first 30 bytes of every segment. Neither end-of-data dot is in the capture
# (each is at the end of a segment longer than 30 bytes), and no reply can be
# tied to it: the server's "250 2.0.0 OK: queued" segments (22 bytes) are
# whole, but the segments before them are cut, so nothing in the file shows
# that they start a reply line, let alone the reply to an end-of-data the
# capture does not hold. Both outcomes: unknown; capture/capture-incomplete.
NAME=snaplen
SNAPLEN=96
ALLOW_TRUNCATED=1
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,100k" --eod-timeout 10s
stop_server
stop_capture
finish "one healthy session to 127.0.0.1:25 (2 KiB and 100 KiB, both answered 250 2.0.0) captured with tcpdump -s $SNAPLEN: every frame is cut to its first $SNAPLEN bytes (30 bytes of TCP payload)" \
	--diag '*=capture:capture-incomplete' --capture-outcome 1.1=unknown --capture-outcome 1.2=unknown \
	--param eod_timeout_s=10 --param server_port=25 --param snaplen="$SNAPLEN" \
	--capture-view snaplen="$SNAPLEN" --capture-view payload_bytes_kept=30 \
	--note "Recorded with tcpdump -s $SNAPLEN: each frame holds 66 bytes of headers (Ethernet, IPv4, TCP with timestamps) and the first 30 bytes of its payload; frame.len keeps the real length. TCP analysis is whole; SMTP is readable only where a command or reply fits in the first 30 bytes of its segment." \
	--note "Outcomes: unknown for both messages (reply null), diagnosis capture/capture-incomplete for them, the session and the headline. Neither end-of-data dot is in the capture: each ends a segment longer than 30 bytes. The server's '250 2.0.0 OK: queued' (22 bytes) is whole in its frame, but the segment before it (the 354, and the last body segment on the client's side) is cut, so the capture cannot show where lines begin or that this 250 answers an end-of-data. The peers logged both delivered with 250 2.0.0 OK: queued (kept under logged); a report may say that a 250 fragment was seen, not that the message was delivered." \
	--note "Wireshark itself shows the problem: its SMTP dissector never sees the first end-of-data and takes the second MAIL, RCPT and DATA for more message body (DATA fragments)." \
	--note "What is knowable: one TCP connection, healthy (no retransmission, no reset, no zero window), its byte counts from sequence numbers, two MAIL commands and two DATA commands from the first bytes of client segments, and that the file was captured with a snap length that cuts every data segment."

# the capture must show it
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(count 'frame.cap_len > 96') -eq 0 ]] || die "frames longer than the snap length"
cut=$(count 'tcp.len > 30 and frame.cap_len < frame.len')
long=$(count 'tcp.len > 30')
[[ $cut -eq $long && $cut -gt 0 ]] || die "$long segment(s) with more than 30 payload bytes, $cut cut"
[[ $TRUNCATED -eq $cut ]] || die "tshark: $TRUNCATED truncated frames, $cut with more than 30 payload bytes"
[[ $(eod_frames | wc -l) -eq 0 ]] || die "an end-of-data is visible in the capture"
# the MAIL commands are at the start of client segments ("MAIL ")
mails=$(ts -Y 'tcp.dstport==25 and tcp.len>0' -T fields -e tcp.payload | grep -c '^4d41494c20' || true)
[[ $mails -eq 2 ]] || die "want 2 client segments starting with MAIL, got $mails"
# Wireshark's own SMTP dissector, never seeing the first end-of-data, takes
# the second MAIL for message body: record it
ws_mail=$(count 'smtp.req.command=="MAIL"')
vis=$(queued)
echo "# tshark's SMTP dissector decodes $ws_mail MAIL command(s) of the 2 segments that start with \"MAIL \" (it never sees the first end-of-data, so the rest is DATA fragments to it); $vis '250 ... queued' reply segment(s) are whole in their frames" >>"$OUT_DIR/$NAME.tshark.txt"
log "verified: every frame cut to $SNAPLEN bytes ($cut of $FRAMES frames lost payload); no end-of-data visible; 2 MAIL segments (tshark's SMTP dissector finds $ws_mail); $vis '250 ... queued' segment(s) whole in their frame"
