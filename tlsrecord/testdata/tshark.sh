#!/usr/bin/env bash
# tshark.sh CAPTURE... — writes tshark/<capture name>.tsv: tshark's reading of
# every frame with TLS (record types and lengths, handshake and alert fields,
# certificate names), the reference TestTshark compares tlsrecord with.
# Run from this directory; the first line says which tshark wrote it.
set -euo pipefail
fields=(frame.number tcp.stream tcp.srcport tls.record.content_type tls.record.opaque_type
	tls.record.length tls.handshake.type tls.handshake.version
	tls.handshake.extensions.supported_version tls.handshake.ciphersuite
	tls.handshake.extensions_server_name tls.handshake.extensions_alpn_str
	tls.alert_message.level tls.alert_message.desc tls.handshake.random x509ce.dNSName)
args=()
for f in "${fields[@]}"; do args+=(-e "$f"); done
for c in "$@"; do
	out="tshark/$(basename "$c").tsv"
	{
		echo "# $(tshark --version 2>/dev/null | head -1)"
		echo "# ${fields[*]}"
		tshark -r "$c" -Y tls -T fields -E separator=/t -E occurrence=a -E aggregator=, "${args[@]}" 2>/dev/null
	} >"$out"
	echo "wrote $out"
done
