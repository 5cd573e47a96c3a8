#!/usr/bin/env bash
# capture-truncated: the relay-stall run's capture, cut with head -c in the
# middle of the record that follows the big message's end-of-data segment
# (the server's bare ACK of the dot, 2 us later), as a capture file is when
# the disk fills up or a copy is interrupted. Nothing is re-run: the peers'
# logs are relay-stall's. Run relay-stall first (make-all does).
#
# What the capture can establish: message 1 (2 KiB) delivered, its 250 is in
# the file; message 2's end-of-data dot is the last whole frame, and the file
# ends microseconds later, long before any relay would answer. Whether a reply
# came cannot be known from this file: the outcome is unknown and the session
# is capture/capture-incomplete, whatever the peers logged (no reply, 10 s
# later QUIT).
NAME=capture-truncated
SRC=relay-stall
source "$(dirname "$0")/lib.sh"
lab_init_offline
src="$OUT_DIR/$SRC.pcapng"
for f in "$src" "$OUT_DIR/$SRC.client.jsonl" "$OUT_DIR/$SRC.server.jsonl"; do
	[[ -s "$f" ]] || die "missing $f: run scripts/$SRC.sh first"
done
cp "$OUT_DIR/$SRC.client.jsonl" "$WORK/client.jsonl"
cp "$OUT_DIR/$SRC.server.jsonl" "$WORK/server.jsonl"

# the frame to cut: the one after the second end-of-data segment
CAP_NAME=$SRC.pcapng
mapfile -t eods < <(eod_frames)
[[ ${#eods[@]} -eq 2 ]] || die "want 2 end-of-data segments in $SRC.pcapng, got ${#eods[@]}"
read -r eod_frame eod_t _ <<<"${eods[1]}"
cut_frame=$((eod_frame + 1))
quit_frame=$(ts -Y 'smtp.req.command=="QUIT"' -T fields -e frame.number | head -1)
[[ -n "$quit_frame" && $cut_frame -lt $quit_frame ]] || die "frame $cut_frame is not before the QUIT ($quit_frame)"
cut_desc=$(ts -Y "frame.number==$cut_frame" -T fields -e tcp.srcport -e tcp.len -e frame.time_relative)
read -r cut_sport cut_len cut_t <<<"$cut_desc"

CAP_NAME=$NAME.pcapng
out="$OUT_DIR/$CAP_NAME"
desc="the $SRC capture (a 2 KiB message gets 250; the relay never answers the end-of-data of a 1.2 MiB message; the client gives up after 10 s) cut with head -c inside frame $cut_frame, the record right after the 1.2 MiB message's end-of-data"
editcap -F pcapng --capture-comment "smtpscope lab scenario $NAME: $desc (expected result: $NAME.expect.json)" "$src" "$WORK/full.pcapng"
read -r off blen < <("$LAB" pcapng-offset "$WORK/full.pcapng" "$cut_frame")
# an enhanced packet block has a 28-byte header: keep it and 26 bytes of the
# packet (Ethernet header and the start of IP), no more
cut_at=$((off + 28 + 26))
[[ $cut_at -lt $((off + blen)) ]] || die "cut at $cut_at is not inside frame $cut_frame's block ($off+$blen)"
head -c "$cut_at" "$WORK/full.pcapng" >"$out"
full_size=$(stat -c %s "$WORK/full.pcapng")

write_expect "$desc" \
	--diag '1.1=none:ok' --diag '1.2=capture:capture-incomplete' --capture-outcome '1.2=unknown' \
	--param eod_timeout_s=10 --param quit_timeout_s=1 --param stall_above_bytes=1048576 --param server_port=25 \
	--capture-view truncated=true --capture-view derived_from="$SRC.pcapng" \
	--capture-view cut_at_byte="$cut_at" --capture-view full_size_bytes="$full_size" \
	--capture-view cut_in_frame="$cut_frame" --capture-view whole_frames="$eod_frame" \
	--capture-view last_whole_frame="message 2's end-of-data segment (\\r\\n.\\r\\n), at ${eod_t} s" \
	--capture-view capture_ends_after_eod_s="$(awk -v a="$eod_t" -v b="$cut_t" 'BEGIN { printf "%.6f", b - a }')" \
	--note "The file is $SRC.pcapng cut at byte $cut_at of $full_size, 26 bytes into the packet data of frame $cut_frame (the server's bare ACK of the dot). The $eod_frame frames before it are whole; a reader must report what they hold and that the file is truncated (smtpscope: \"truncated\": true), not fail." \
	--note "Message 2 (1.2 MiB): its end-of-data dot is the last whole frame and the capture ends $(awk -v a="$eod_t" -v b="$cut_t" 'BEGIN { printf "%.0f", (b - a) * 1e6 }') us after it. No relay answers that fast, and nothing after the cut is known: not the reply, not its absence. So outcome unknown, reply null, diagnosis capture/capture-incomplete. 'no-reply' would claim the relay never answered, which this file cannot show; the peers' account (no reply, the client's QUIT 10 s later) is kept under logged and in the client/server fields." \
	--note "Message 1 (2 KiB): MAIL to its 250 is whole in the capture: delivered, none/ok. The session (and the headline) is capture/capture-incomplete: the one thing this capture was taken to show, the big message's fate, it does not hold."

# the capture must show it
TS_TOLERANT=1
summarize
err=$(tshark -n -r "$out" -T fields -e frame.number 2>&1 >/dev/null | grep -v "Running as user" | sed "s|$OUT_DIR/||" || true)
grep -q "cut short in the middle of a packet" <<<"$err" || die "tshark does not report a cut-short file: $err"
[[ $FRAMES -eq $eod_frame ]] || die "tshark reads $FRAMES whole frames, want $eod_frame"
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(eod_frames | wc -l) -eq 2 ]] || die "want both end-of-data segments"
last=$(eod_frames | tail -1 | cut -f1)
[[ $last -eq $FRAMES ]] || die "the last whole frame ($FRAMES) is not the end-of-data ($last)"
[[ $(queued) -eq 1 ]] || die "want one 250 queued"
[[ $(count 'smtp.req.command=="QUIT"') -eq 0 ]] || die "QUIT in the capture"
echo "# tshark on reading: $err" >>"$OUT_DIR/$NAME.tshark.txt"
log "verified: $FRAMES whole frames, the last the end-of-data; cut at byte $cut_at inside frame $cut_frame (port $cut_sport, $cut_len payload bytes, ${cut_t}s); tshark: $err"
