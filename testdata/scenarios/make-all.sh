#!/usr/bin/env bash
# Regenerates every scenario capture under captures/ (run as root):
#
#     sudo testdata/scenarios/make-all.sh              # all scenarios
#     sudo testdata/scenarios/make-all.sh relay-stall  # some of them
#
# Each scenario runs in a network namespace of its own that is deleted on
# exit; nothing is sent outside it. Needs go, tcpdump, tshark/editcap,
# iptables, taskset, ip (iproute2).
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "run as root: sudo $0" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "go not found (sudo may reset PATH: sudo env PATH=\"\$PATH\" $0)" >&2; exit 1; }

ALL=(healthy relay-stall eod-451 eod-552 rcpt-reject banner-421 banner-554 slow-reply
	reset-mid-data zero-window lossy connect-refused connect-timeout
	pipelining bdat bdat-fail ipv6 port-2525 starttls
	eod-partial-reply reset-injected reset-injected-ttl reset-by-client
	aborted-by-client pmtu-blackhole capture-midsession capture-drops snaplen
	tls-openssl-delivered tls-stall-12 tls-stall-13 tls-implicit-stall tls-implicit-port tls-version-mismatch
	tls-cert-rejected-12 tls-cert-rejected-13 tls-starttls-454 tls-starttls-masked
	capture-truncated relay-stall.netmon2) # the last two are made from relay-stall's capture
if [[ $# -gt 0 ]]; then SCENARIOS=("$@"); else SCENARIOS=("${ALL[@]}"); fi

BIN=$(mktemp -d /tmp/smtpscope-lab.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
(cd "$DIR" && go build -o "$BIN/lab" ./lab)
export LAB_BIN=$BIN/lab

failed=()
for s in "${SCENARIOS[@]}"; do
	[[ -x "$DIR/scripts/$s.sh" ]] || { echo "no scenario $s" >&2; failed+=("$s"); continue; }
	"$DIR/scripts/$s.sh" || failed+=("$s")
done

# nothing may be left behind
# (pmtu-blackhole's extra namespaces end in -r1, -r2, -s)
pat="^smtpscope-($(IFS='|'; echo "${ALL[*]}"))-[0-9]+(-[a-z0-9]+)?( |$)"
if ip netns list | grep -Eq "$pat"; then
	echo "namespaces left behind:" >&2
	ip netns list | grep -E "$pat" >&2
	failed+=("(namespaces)")
fi
echo "scenarios run: ${#SCENARIOS[@]}, failed: ${#failed[@]} ${failed[*]:-}"
[[ ${#failed[@]} -eq 0 ]]
