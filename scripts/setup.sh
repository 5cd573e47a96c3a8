#!/usr/bin/env bash
# setup.sh — install what smtpscope's build and tests need on Debian, when
# missing: libpcap-dev (live capture, cgo build), tshark/editcap (reference
# for the comparison tests), tcpdump, iproute2 and iptables (fault lab),
# chromium (the HTML report's browser test), prometheus (promtool, for the
# alert rules' tests), python3-jsonschema (the events' JSON Schema test),
# rsyslog (the events shipping test).
# It never upgrades what is there. Needs root (or sudo) only if something
# is missing.
set -euo pipefail

need=()
[ -f /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v editcap >/dev/null 2>&1 || need+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
# report's TestWriteHTMLInChromium renders the HTML report headless; it
# finds chromium, chromium-browser or google-chrome on PATH.
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
  command -v google-chrome >/dev/null 2>&1 || need+=(chromium)
# promtool checks the alert rules in deploy/prometheus and the metrics' names.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Python's jsonschema validates the --events lines against their JSON Schema
# (cmd/smtpscope TestEventsSchema).
python3 -c 'import jsonschema' >/dev/null 2>&1 || need+=(python3-jsonschema)
# rsyslogd runs deploy/rsyslog's sample in TestRsyslogShipsEvents (tests
# start their own rsyslogd with their own configuration).
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: need root to install: ${need[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  # tshark asks whether non-root users may capture; answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "setup: Go is at /usr/local/go/bin; add it to PATH" >&2
  else
    echo "setup: Go 1.25 or newer is needed (https://go.dev/dl/); Debian 12's golang package is too old" >&2
  fi
  exit 1
fi
