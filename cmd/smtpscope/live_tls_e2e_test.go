//go:build cgo && linux

package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLiveFollowsKeyLog runs "smtpscope live --tls-keylog KEYS" in a
// network namespace while real TLS peers (Python's ssl: smtpd.py and
// smtplib, tlskeys/testdata/lab) make STARTTLS sessions and write their
// key log lines as they make them: the first client appends to KEYS
// itself while live runs (TLS 1.3); the second's lines (TLS 1.2) reach
// KEYS only 300 ms after its session ended, as from a writer that
// flushes late. Both sessions must be decrypted in the live report, the
// second by the records held while it waited for its key (and the report
// says so: held_for_key, key_wait_ms): their commands and reply codes are
// the plaintext dialogue's.
func TestLiveFollowsKeyLog(t *testing.T) {
	bin, ipTool, ns := liveE2ESetup(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("live TLS key log test needs python3 (the TLS peers)")
	}
	lab, err := filepath.Abs("../../tlskeys/testdata/lab")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath := writeLabCert(t, dir)
	keys := filepath.Join(dir, "keys.log")
	late := filepath.Join(dir, "late.keys")
	// Created before live starts (as root, the run then becomes nobody):
	// the peers append to it.
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	reportPath := filepath.Join(dir, "report.json")
	live := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, bin, "live", "-i", "lo", "--duration", "80s",
		"--tls-keylog", keys, "--format", "json", "-o", reportPath)
	stderr, err := live.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var events []string
	for sc.Scan() {
		events = append(events, sc.Text())
		if strings.Contains(sc.Text(), `"type":"start"`) {
			break
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc.Scan() {
			events = append(events, sc.Text())
		}
	}()

	inNS := func(args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, ipTool, append([]string{"netns", "exec", ns}, args...)...)
	}
	server := inNS(python, filepath.Join(lab, "smtpd.py"), "--cert", certPath, "--key", keyPath,
		"--log", filepath.Join(dir, "server.jsonl"), "--count", "2", "--timeout", "30")
	serverOut, _ := os.Create(filepath.Join(dir, "server.out"))
	defer serverOut.Close()
	server.Stdout, server.Stderr = serverOut, serverOut
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		out, _ := inNS("ss", "-ltnH", "sport = :25").Output()
		if len(out) > 0 {
			break
		}
		if i == 100 {
			t.Fatal("the lab server does not listen on port 25")
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := func(port, keylog string, args ...string) {
		t.Helper()
		out, err := inNS(append([]string{python, filepath.Join(lab, "client.py"), "--source-port", port, "--keylog", keylog}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("client %s: %v\n%s", port, err, out)
		}
	}
	client("40001", keys)
	client("40002", late, "--max", "TLSv1_2")
	if err := server.Wait(); err != nil {
		t.Fatalf("lab server: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // well within the wait of 3 s from its first records
	lines, err := os.ReadFile(late)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(keys, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(lines); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Stopped by SIGINT once the peers are done and the key log had time to
	// be read, not by a fixed duration: on a loaded machine the peers may
	// take most of any fixed window to start (--duration is only the
	// backstop).
	time.Sleep(3 * time.Second)
	live.Process.Signal(os.Interrupt)

	err = live.Wait()
	<-done
	t.Logf("smtpscope live events:\n%s", strings.Join(events, "\n"))
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("smtpscope live: %v", err)
	}
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Connections []struct {
			Client string `json:"client"`
			SMTP   *struct {
				TLS *struct {
					Version    string `json:"version"`
					Decryption *struct {
						State      string  `json:"state"`
						Reason     string  `json:"reason"`
						HeldForKey int     `json:"held_for_key"`
						KeyWaitMS  float64 `json:"key_wait_ms"`
					} `json:"decryption"`
				} `json:"tls"`
				Commands []struct {
					Verb  string `json:"verb"`
					Reply *struct {
						Code int `json:"code"`
					} `json:"reply"`
				} `json:"commands"`
			} `json:"smtp"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, raw)
	}
	want := "EHLO 250, STARTTLS 220, EHLO 250, MAIL 250, RCPT 250, RCPT 550, DATA 354, QUIT 221"
	seen := 0
	for _, c := range rep.Connections {
		if !strings.HasSuffix(c.Client, ":40001") && !strings.HasSuffix(c.Client, ":40002") {
			continue
		}
		seen++
		if c.SMTP == nil || c.SMTP.TLS == nil || c.SMTP.TLS.Decryption == nil {
			t.Errorf("%s: no TLS decryption in the report", c.Client)
			continue
		}
		if d := c.SMTP.TLS.Decryption; d.State != "decrypted" {
			t.Errorf("%s (%s): decryption %s (%s), want decrypted", c.Client, c.SMTP.TLS.Version, d.State, d.Reason)
		}
		// The second session's key came at least 300 ms (wall clock, and
		// so capture time) after its handshake: the report says its
		// records waited for it.
		if d := c.SMTP.TLS.Decryption; strings.HasSuffix(c.Client, ":40002") && (d.HeldForKey < 1 || d.KeyWaitMS < 300) {
			t.Errorf("%s: decryption %+v: want records held for the key, at least 300 ms", c.Client, d)
		}
		var got []string
		for _, cmd := range c.SMTP.Commands {
			code := 0
			if cmd.Reply != nil {
				code = cmd.Reply.Code
			}
			got = append(got, fmt.Sprintf("%s %d", cmd.Verb, code))
		}
		if s := strings.Join(got, ", "); s != want {
			t.Errorf("%s: commands %s, want %s", c.Client, s, want)
		}
	}
	if seen != 2 {
		t.Errorf("%d of the 2 lab sessions in the report:\n%s", seen, raw)
	}
	for _, l := range events {
		if strings.Contains(l, "SECRET") || strings.Contains(l, "CLIENT_RANDOM") {
			t.Errorf("a key log line on stderr: %.60s…", l)
		}
	}
}

// writeLabCert writes a self-signed certificate and its key for the lab
// server, PEM, and returns their paths.
func writeLabCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.lab.test"},
		DNSNames: []string{"relay.lab.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
