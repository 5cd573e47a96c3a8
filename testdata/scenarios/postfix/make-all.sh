#!/usr/bin/env bash
# Regenerates the Postfix lab (run as root; about 30 s a scenario):
#
#     sudo testdata/scenarios/postfix/make-all.sh
#
# Needs what ../make-all.sh needs, and the postfix package.
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "run as root: sudo $0" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"
BIN=$(mktemp -d /tmp/smtpscope-lab.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
(cd "$DIR/.." && go build -o "$BIN/lab" ./lab)
export LAB_BIN=$BIN/lab
failed=()
for s in postfix-relay-stall postfix-eod-451 postfix-reset postfix-relay-stall-syslog postfix-callout; do
	timeout 180 "$DIR/$s.sh" || failed+=("$s")
done
echo "postfix scenarios failed: ${#failed[@]} ${failed[*]:-}"
[[ ${#failed[@]} -eq 0 ]]
