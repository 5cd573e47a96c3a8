package smtp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAnomaliesRaised raises every anomaly constant from input, and fails
// when a constant has no row: each name the package declares must be one
// the decoder can actually raise.
func TestAnomaliesRaised(t *testing.T) {
	hello := string(clientHelloBytes(t, "mx.example.com"))
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{AnomalyBareLF, Options{}, steps(S("220 x\r\n"), C("EHLO a\n"), S("250 ok\r\n"))},
		{AnomalyBareLFEndOfData, Options{}, with(envelope, steps(C("a\n.\nb\r\n.\r\n"), S("250 ok\r\n")))},
		{AnomalyBodyWithoutMail, Options{}, with(steps(C("BDAT 3 LAST\r\nabc"), S("503 5.5.1 MAIL first\r\n")))},
		{AnomalyBodyBefore354, Options{}, with(steps(C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nbody\r\n.\r\n"),
			S("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n")))},
		{AnomalyCommandAfterSTARTTLS, Options{}, with(steps(C("STARTTLS\r\nMAIL FROM:<a@x>\r\n"), S("454 4.7.0 not now\r\n250 ok\r\n")))},
		{AnomalyCommandDuringAUTH, Options{}, with(steps(C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"), C("MAIL FROM:<a@x>\r\n")))},
		{AnomalyContentGap, Options{}, with(steps(CGap(10), C("QUIT\r\n"), S("221 bye\r\n")))},
		{AnomalyReplyBeforeCommand, Options{}, skewed(with(steps(C("NOOP\r\n"), S("250 ok\r\n"))))},
		{AnomalyEmptyCommand, Options{}, with(steps(C("\r\n"), S("500 5.5.2 what\r\n")))},
		{AnomalyEndOfDataInGap, Options{}, with(envelope, steps(C("part one\r\n"), CGap(100), C("tail\r\n"), S("250 2.0.0 queued\r\n")))},
		{AnomalyExcessivePendingCommands, Options{MaxPendingCommands: 2}, steps(S("220 x\r\n"), C("NOOP\r\nNOOP\r\nNOOP\r\n"))},
		{AnomalyHeadersTooLong, Options{}, with(envelope, steps(C("X-Long: "+strings.Repeat("a", maxHeaderBytes)+"\r\n\r\nbody\r\n.\r\n"), S("250 ok\r\n")))},
		{AnomalyHugeBDATChunk, Options{MaxChunkSize: 10}, with(steps(C("MAIL FROM:<a@x>\r\nBDAT 11 LAST\r\n01234567890"), S("250 ok\r\n250 ok\r\n")))},
		{AnomalyInvalidBDATCommand, Options{}, with(steps(C("MAIL FROM:<a@x>\r\nBDAT x\r\n"), S("250 ok\r\n501 5.5.4 syntax\r\n")))},
		{AnomalyLateReply, Options{}, with(envelope, steps(C("body\r\n.\r\n"), C("QUIT\r\n"), S("250 2.0.0 queued\r\n221 Bye\r\n")))},
		{AnomalyLineTooLong, Options{MaxLineLength: 10}, steps(S("220 x\r\n"), C("EHLO a-very-long-name\r\n"), S("250 ok\r\n"))},
		{AnomalyMalformedReply, Options{}, steps(S("220 x\r\n"), C("NOOP\r\n"), S("what\r\n"))},
		{AnomalyNestedMailTransaction, Options{}, with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("MAIL FROM:<b@x>\r\n"), S("503 5.5.1 nested\r\n")))},
		{AnomalyOneSidedCapture, Options{}, steps(C("EHLO a\r\n"), C("MAIL FROM:<a@x>\r\n"), C("RCPT TO:<b@x>\r\n"))},
		{AnomalyPartialReply, Options{}, with(steps(C("NOOP\r\n"), S("250 o")))},
		{AnomalyPregreet, Options{}, steps(C("GET / HTTP/1.0\r\n"), S("220 x\r\n"), S("502 5.5.2 what\r\n"))},
		{AnomalyRcptWithoutMail, Options{}, with(steps(C("RCPT TO:<b@x>\r\n"), S("503 5.5.1 MAIL first\r\n")))},
		{AnomalyReplyCodeMismatch, Options{}, steps(S("220 x\r\n"), C("NOOP\r\n"), S("250-a\r\n251 b\r\n"))},
		{AnomalyReplyDuringBody, Options{}, with(envelope, steps(C("part\r\n"), S("421 4.4.2 timeout\r\n"), SFIN))},
		{AnomalyReplyTooManyLines, Options{MaxReplyLines: 10}, steps(S("220-x\r\n" + strings.Repeat("220-more\r\n", 20) + "220 end\r\n"))},
		{AnomalyTLSNotClientHello, Options{}, with(steps(C("STARTTLS\r\n"), S("220 go\r\n"), C("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00")))},
		{AnomalyTLSWithoutSTARTTLS, Options{}, with(steps(C(hello)))},
		{AnomalyTooManyCommands, Options{MaxCommands: 1}, steps(S("220 x\r\n"), C("NOOP\r\nNOOP\r\n"))},
		{AnomalyTooManyRecipients, Options{MaxRecipients: 1}, with(steps(C("MAIL FROM:<a@x>\r\nRCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\n")))},
		{AnomalyTooManyTransactions, Options{MaxTransactions: 1}, with(steps(C("MAIL FROM:<a@x>\r\nRSET\r\nMAIL FROM:<b@x>\r\n")))},
		{AnomalyUnmatchedReply, Options{}, steps(S("220 x\r\n"), S("421 4.4.2 timeout\r\n"))},
		{AnomalyUnterminatedCommand, Options{}, steps(S("220 x\r\n"), C("QUIT"))},
		{AnomalyUnterminatedReplyLine, Options{}, steps(S("220 x\r\n"), C("NOOP\r\n"), S("hello"))},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.name] = true
		s := run(tc.opts, tc.steps...)
		if !hasAnomaly(s, tc.name) {
			t.Errorf("%s not raised; anomalies %q\n%s", tc.name, anomalyNames(s), dump(s))
		}
	}
	for _, name := range declaredAnomalies(t) {
		if !covered[name] {
			t.Errorf("anomaly %q is declared but no test raises it", name)
		}
	}
}

// declaredAnomalies returns the values of the Anomaly* constants of
// anomaly.go, and fails the test if a non-test file of the package passes
// a string literal where an anomaly name is expected.
func declaredAnomalies(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if strings.HasPrefix(id.Name, "Anomaly") && i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							names = append(names, v)
						}
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) < 2 {
					return true
				}
				arg := n.Args[0]
				if sel.Sel.Name == "orphanTransaction" {
					arg = n.Args[1]
				} else if sel.Sel.Name != "anomalyf" && sel.Sel.Name != "anomalyOnce" {
					return true
				}
				if lit, ok := arg.(*ast.BasicLit); ok {
					t.Errorf("%s: %s(%s, ...): an anomaly name must be one of the Anomaly constants", fset.Position(lit.Pos()), sel.Sel.Name, lit.Value)
				}
			}
			return true
		})
	}
	if len(names) < 30 {
		t.Fatalf("found %d anomaly constants, want them all", len(names))
	}
	return names
}
