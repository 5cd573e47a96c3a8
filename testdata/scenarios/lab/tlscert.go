package main

import "crypto/tls"

func selfSignedCert(domain string) (tls.Certificate, error) { return tls.Certificate{}, nil }
