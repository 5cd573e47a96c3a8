package main

import (
	"fmt"
	"slices"

	"github.com/smtpscope/smtpscope/pipeline"
)

// tlsPortsFlag is the flag naming more ports of implicit TLS (analyze and
// live).
const (
	tlsPortsFlag  = "tls-ports"
	tlsPortsUsage = "extra server `PORTS` of implicit TLS, read as TLS from the first byte and as SMTP (465 always is; as tshark's -d tcp.port==PORT,tls)"
)

// implicitTLSPorts adds the --tls-ports to the default ports of implicit
// TLS.
func implicitTLSPorts(extra []uint) ([]uint16, error) {
	ports := slices.Clone(pipeline.DefaultTLSPorts)
	for _, p := range extra {
		if p == 0 || p > 65535 {
			return nil, fmt.Errorf("--%s: %d is not a TCP port", tlsPortsFlag, p)
		}
		if !slices.Contains(ports, uint16(p)) {
			ports = append(ports, uint16(p))
		}
	}
	return ports, nil
}
