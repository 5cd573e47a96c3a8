package report

import "strings"

// enhancedMeaning gives the RFC 3463 meaning of the subject.detail part of
// an enhanced status code (class-independent), with the Exchange/Postfix
// reading where the shared SMTP-CODES notes give one.
var enhancedMeaning = map[string]string{
	"0.0":  "other undefined status",
	"1.1":  "bad destination mailbox address",
	"1.2":  "bad destination system address",
	"1.3":  "bad destination mailbox address syntax",
	"1.6":  "destination mailbox has moved",
	"1.7":  "bad sender's mailbox address syntax",
	"1.8":  "bad sender's system address",
	"1.10": "recipient address has null MX",
	"2.1":  "mailbox disabled",
	"2.2":  "mailbox full",
	"2.3":  "message length exceeds administrative limit",
	"3.0":  "other mail system status",
	"3.1":  "mail system full (Exchange: insufficient system resources, back pressure)",
	"3.2":  "system not accepting network messages",
	"3.4":  "message too big for system",
	"3.5":  "system incorrectly configured",
	"4.0":  "other network or routing status",
	"4.1":  "no answer from host (connection timed out)",
	"4.2":  "bad connection (Exchange: \"Connection dropped\"; Postfix: lost connection or timed out)",
	"4.3":  "directory server failure",
	"4.4":  "unable to route",
	"4.5":  "mail system congestion",
	"4.6":  "routing loop detected",
	"4.7":  "delivery time expired",
	"5.0":  "other protocol status",
	"5.1":  "invalid command",
	"5.2":  "syntax error",
	"5.3":  "too many recipients",
	"5.4":  "invalid command arguments",
	"5.5":  "wrong protocol version",
	"6.0":  "other or undefined media error",
	"7.0":  "other security or policy status",
	"7.1":  "delivery not authorized, message refused",
	"7.3":  "security conversion required but not possible",
	"7.5":  "cryptographic failure",
	"7.8":  "authentication credentials invalid",
	"7.9":  "authentication mechanism too weak",
}

// basicMeaning gives the RFC 5321 §4.2 meaning of a basic reply code.
var basicMeaning = map[int]string{
	421: "service not available, closing channel",
	450: "mailbox unavailable",
	451: "local error in processing",
	452: "insufficient system storage",
	455: "server unable to accommodate parameters",
	500: "syntax error, command unrecognized",
	501: "syntax error in parameters",
	502: "command not implemented",
	503: "bad sequence of commands",
	504: "command parameter not implemented",
	521: "host does not accept mail",
	550: "mailbox unavailable or policy rejection",
	551: "user not local",
	552: "exceeded storage allocation",
	553: "mailbox name not allowed",
	554: "transaction failed",
	555: "parameters not recognized",
	556: "domain does not accept mail",
}

// codeMeaning explains a reply: the enhanced code's meaning when known,
// else the basic code's, else "".
func codeMeaning(code int, enhanced string) string {
	if i := strings.IndexByte(enhanced, '.'); i > 0 {
		if m, ok := enhancedMeaning[enhanced[i+1:]]; ok {
			return m
		}
	}
	return basicMeaning[code]
}
