#!/bin/sh
# make-screenshot.sh regenerates docs/relay-stall-report.png, the README's
# picture of the HTML report of the seed incident, with headless Chromium.
# Run from anywhere: sh docs/make-screenshot.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/smtpscope" ./cmd/smtpscope
# Exit status 1 means "a mail transaction failed": expected for this capture.
"$work/smtpscope" analyze --format html -o "$work/relay-stall.html" \
	testdata/scenarios/captures/relay-stall.pcapng || [ $? -eq 1 ]
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$work/profile" --window-size=1280,1600 \
	--screenshot="$root/docs/relay-stall-report.png" "file://$work/relay-stall.html"
