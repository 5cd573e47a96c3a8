module github.com/smtpscope/smtpscope

go 1.25.0

require (
	github.com/gopacket/gopacket v1.7.7
	github.com/klauspost/compress v1.20.4
	github.com/spf13/pflag v1.1.0
	golang.org/x/crypto v0.51.0
	golang.org/x/net v0.55.0
)

require golang.org/x/sys v0.45.0 // indirect
