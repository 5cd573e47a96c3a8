// Package bench holds what `make bench` measures smtpscope against: Floor,
// the bare read + decode + reassembly + line-split loop that no analyser
// built on gopacket can beat, and Check, which compares a smtpscope JSON
// report with the expectations cmd/smtpgen wrote beside its capture.
//
// It does not generate captures (package bench/synth does) and it does
// not time anything: scripts/bench.sh runs the programs in bench/floor and
// bench/expectcheck beside smtpscope, tshark and tcptrace and times them.
package bench
