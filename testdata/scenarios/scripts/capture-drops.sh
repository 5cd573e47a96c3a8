#!/usr/bin/env bash
# capture-drops: a healthy session (2 KiB and 1 MiB, both 250) whose capture
# lost a few frames: the run is recorded whole, then editcap deletes three of
# the client's data segments in the middle of the 1 MiB body, as a capture
# that could not keep up would (tcpdump "packets dropped by kernel", a SPAN
# port over its bandwidth). The network lost nothing: the server received
# every byte and ACKs data that the capture lacks ("ACKed unseen segment").
#
# What the capture can establish: both end-of-data dots and both 250s are in
# it, so both messages are delivered; TCP was healthy (no retransmission: the
# holes were filled on the wire, the ACKs prove it). The missing frames are a
# capture fault, to be reported as such (not as packet loss); no outcome is
# hidden, so the diagnosis is none/ok.
NAME=capture-drops
ALLOW_LOST=1
source "$(dirname "$0")/lib.sh"
lab_init
start_capture
start_server --listen 127.0.0.1:25
run_client --server 127.0.0.1:25 --sessions "2k,1m" --eod-timeout 10s
stop_server
stop_capture

# the client's data segments between the second 354 and the second
# end-of-data; delete the ones at 30 %, 50 % and 70 % of them
tsraw() { tshark -n -r "$WORK/cap.pcap" "$@" 2>/dev/null; }
full_frames=$(tsraw -T fields -e frame.number | wc -l)
s354=$(tsraw -Y 'tcp.srcport==25 and smtp.response.code==354' -T fields -e frame.number | tail -1)
mapfile -t body < <(tsraw -Y "frame.number>$s354 and tcp.dstport==25 and tcp.len>0" -T fields -e frame.number -e tcp.seq -e tcp.len)
n=${#body[@]}
[[ $n -gt 100 ]] || die "only $n body segments"
drop=() dropped=() bytes=0
for pct in 30 50 70; do
	read -r f seq len <<<"${body[$((n * pct / 100))]}"
	drop+=("$f")
	dropped+=("{\"frame\":$f,\"rel_seq\":$seq,\"len\":$len}")
	bytes=$((bytes + len))
done
editcap "$WORK/cap.pcap" "$WORK/cut.pcap" "${drop[@]}"
mv "$WORK/cut.pcap" "$WORK/cap.pcap"

finish "one healthy session to 127.0.0.1:25 (2 KiB and 1 MiB, both answered 250 2.0.0) whose capture lacks three of the client's data segments in the middle of the 1 MiB body (frames ${drop[*]} of the full run deleted with editcap); the server received and ACKed them" \
	--diag '*=none:ok' --param eod_timeout_s=10 --param server_port=25 \
	--capture-view "frames_removed=[$(IFS=,; echo "${dropped[*]}")]" --capture-view bytes_removed="$bytes" \
	--capture-view full_run_frames="$full_frames" --capture-view removed_from="message 2 body, client to server" \
	--note "Frames ${drop[*]} of the run's $full_frames (client data segments of the 1 MiB body, $bytes bytes in all; rel_seq is tshark's relative sequence number) were deleted from the capture with editcap; everything else is as recorded. tcpdump itself dropped nothing: the client sent each segment once and the server ACKed it (the lab's own checks: no retransmission)." \
	--note "Both messages are delivered (none/ok): each end-of-data and the 250 answering it are in the capture. The session and the headline are none/ok: no outcome is hidden. The gaps are the capture's, not the network's: the server ACKs bytes the capture never shows and nobody retransmits them, so L4 must not call it packet loss; a report should say the capture missed $bytes bytes (tshark: 'previous segment not captured', 'ACKed segment that wasn't captured') and that the body size is taken from sequence numbers."

# the capture must show it
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 2 ]] || die "want two 250 queued"
[[ $(eod_frames | wc -l) -eq 2 ]] || die "want both end-of-data segments"
gaps=$(count 'tcp.analysis.lost_segment')
acked=$(count 'tcp.analysis.ack_lost_segment')
[[ $gaps -eq 3 ]] || die "want 3 'previous segment not captured', got $gaps"
[[ $acked -ge 1 ]] || die "want 'ACKed segment that wasn't captured', got none"
[[ $FRAMES -eq $((full_frames - 3)) ]] || die "want $((full_frames - 3)) frames, got $FRAMES"
log "verified: frames ${drop[*]} removed ($bytes bytes); tshark: $gaps 'previous segment not captured', $acked 'ACKed unseen', 0 retransmissions, 2 x 250 queued"
