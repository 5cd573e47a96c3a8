#!/usr/bin/env bash
# relay-stall.netmon2: the relay-stall capture converted to Microsoft Network
# Monitor 2.x format (editcap -F netmon2), with the same expectations. Nothing
# is re-run. Run relay-stall first (make-all does).
NAME=relay-stall.netmon2
SRC=relay-stall
CAP_NAME=$NAME.cap
source "$(dirname "$0")/lib.sh"
lab_init_offline
src="$OUT_DIR/$SRC.pcapng"
for f in "$src" "$OUT_DIR/$SRC.expect.json" "$OUT_DIR/$SRC.client.jsonl" "$OUT_DIR/$SRC.server.jsonl"; do
	[[ -s "$f" ]] || die "missing $f: run scripts/$SRC.sh first"
done
cp "$OUT_DIR/$SRC.client.jsonl" "$WORK/client.jsonl"
cp "$OUT_DIR/$SRC.server.jsonl" "$WORK/server.jsonl"
cp "$WORK/client.jsonl" "$OUT_DIR/$NAME.client.jsonl"
cp "$WORK/server.jsonl" "$OUT_DIR/$NAME.server.jsonl"
editcap -F netmon2 "$src" "$OUT_DIR/$CAP_NAME"
"$LAB" expect-copy --in "$OUT_DIR/$SRC.expect.json" --name "$NAME" --capture "$CAP_NAME" \
	--note "This is $SRC.pcapng converted with 'editcap -F netmon2' (Microsoft Network Monitor 2.x, no capture comment): same frames, same numbering, same expectations as $SRC.expect.json." \
	--out "$OUT_DIR/$NAME.expect.json"

# the capture must show what relay-stall.pcapng shows, frame for frame
summarize
[[ $(head -c 4 "$OUT_DIR/$CAP_NAME") == "GMBU" ]] || die "not a NetMon 2.x file (magic GMBU)"
fmt=$(capinfos -t "$OUT_DIR/$CAP_NAME" 2>/dev/null | awk -F': *' '/File type/ { print $2 }')
fields=(-T fields -e frame.number -e frame.time_relative -e frame.len -e tcp.stream -e tcp.seq -e tcp.ack -e tcp.len -e tcp.flags -e smtp.req.command -e smtp.response.code)
diff <(tshark -n -r "$src" "${fields[@]}" 2>/dev/null) <(ts "${fields[@]}") >"$WORK/diff.txt" ||
	die "$CAP_NAME differs from $SRC.pcapng: $(head -5 "$WORK/diff.txt")"
want_streams 1
want_retrans eq 0
want_rst eq 0
[[ $(queued) -eq 1 ]] || die "want exactly one 250 queued"
log "verified: $FRAMES frames ($fmt), identical to $SRC.pcapng in number, time (us), length, TCP and SMTP fields"
