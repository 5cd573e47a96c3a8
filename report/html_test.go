package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

// golden compares got with testdata/render/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; rerun with -update and review the diff", path)
	}
}

func renderHTML(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTML(&b, ViewOptions{}); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.Bytes()
}

func TestWriteHTMLGolden(t *testing.T) {
	for _, tt := range renderCases() {
		t.Run(tt.name, func(t *testing.T) {
			out := renderHTML(t, tt.report)
			golden(t, tt.name+".html", out)
			checkHTML(t, out)
		})
	}
}

// voidElements have no end tag in HTML.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// checkHTML holds a page to what WriteHTML promises: balanced tags, SVG
// that is well-formed XML, no script, no event handler, no external
// resource.
func checkHTML(t *testing.T, page []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	var open []string
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenizing: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			switch tok.Data {
			case "script", "iframe", "object", "embed", "img", "link", "foreignobject":
				t.Errorf("page has a <%s> element", tok.Data)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("<%s> has an event handler %s=%q", tok.Data, a.Key, a.Val)
				}
				if (a.Key == "href" || a.Key == "src") && !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q> points outside the page", tok.Data, a.Key, a.Val)
				}
			}
			if tt == html.StartTagToken && !voidElements[tok.Data] {
				open = append(open, tok.Data)
			}
		case html.EndTagToken:
			if len(open) == 0 || open[len(open)-1] != tok.Data {
				t.Fatalf("</%s> closes %v", tok.Data, open)
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		t.Errorf("unclosed elements %v", open)
	}
	if _, err := html.Parse(bytes.NewReader(page)); err != nil {
		t.Errorf("html.Parse: %v", err)
	}
	// Every inline SVG must stand alone as XML, so that it can be saved
	// and opened on its own.
	s := string(page)
	n := 0
	for {
		i := strings.Index(s, "<svg")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "</svg>")
		if j < 0 {
			t.Fatal("<svg> without </svg>")
		}
		part := s[i : i+j+len("</svg>")]
		d := xml.NewDecoder(strings.NewReader(part))
		d.Strict = true
		for {
			if _, err := d.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("SVG %d is not well-formed XML: %v", n, err)
				}
				break
			}
		}
		n++
		s = s[i+j:]
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	page := renderHTML(t, hostile())
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	// The hostile text must survive as text, not as markup.
	var text strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
		}
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "img":
				t.Errorf("hostile input made a <%s> element", n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, want := range []string{"<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "<script>evil|`x`</script>"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("page text lacks %q: it was dropped or turned into markup", want)
		}
	}
	for _, bad := range []string{"<script", "<img", "</code>@"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("page contains raw %q", bad)
		}
	}
	checkHTML(t, page)
}

// TestWriteHTMLLadder checks the seed incident's ladder says what a mail
// engineer needs: both peers, the end-of-data with its frame, and the
// silence after it with its length.
func TestWriteHTMLLadder(t *testing.T) {
	r := seedIncident()
	l := newLadder(&r.Connections[1], "l")
	var eod *ladderRow
	for i := range l.Rows {
		if l.Rows[i].Class == "eod" {
			eod = &l.Rows[i]
		}
	}
	if eod == nil || eod.Frame != "982" || eod.Time != "+0.6210 s" {
		t.Fatalf("end-of-data row = %+v, want frame 982 at +0.6210 s", eod)
	}
	if len(l.Bodies) != 1 || !strings.Contains(l.Bodies[0].Line1, "1,048,576 bytes") || !strings.Contains(l.Bodies[0].Line2, "TCP healthy") {
		t.Errorf("bodies = %+v, want one 1 MiB block with its TCP health", l.Bodies)
	}
	wantBands := []string{
		"25.0 s without a reply from the server to end-of-data",
		"25.0 s without a reply from the server to end-of-data and QUIT",
	}
	if len(l.Bands) != len(wantBands) {
		t.Fatalf("bands = %+v, want %d", l.Bands, len(wantBands))
	}
	for i, want := range wantBands {
		if l.Bands[i].Label != want || l.Bands[i].Class != "server" {
			t.Errorf("band %d = %q (%s), want %q (server)", i, l.Bands[i].Label, l.Bands[i].Class, want)
		}
		if l.Bands[i].Y < eod.Y {
			t.Errorf("band %d at y=%v is above the end-of-data row (y=%v)", i, l.Bands[i].Y, eod.Y)
		}
	}
	// Rows go down the page in frame order.
	for i := 1; i < len(l.Rows); i++ {
		if l.Rows[i].Y <= l.Rows[i-1].Y {
			t.Errorf("row %d (%s) at y=%v is not below row %d (%s) at y=%v", i, l.Rows[i].Label, l.Rows[i].Y, i-1, l.Rows[i-1].Label, l.Rows[i-1].Y)
		}
	}
	// Pipelined MAIL and RCPT share frame 28 and a row.
	var labels []string
	for _, row := range l.Rows {
		labels = append(labels, row.Frame+" "+row.Label)
	}
	if !strings.Contains(strings.Join(labels, "\n"), "28 MAIL from sender@example.org · RCPT to postmaster@example.net") {
		t.Errorf("rows lack the pipelined MAIL · RCPT in frame 28:\n%s", strings.Join(labels, "\n"))
	}
}

// TestWriteHTMLBounded checks that a huge report stays bounded: every
// failing connection up to maxHTMLFailing has its folded section and
// ladder, the timeline has one lane per server and a mark per failure.
func TestWriteHTMLBounded(t *testing.T) {
	r := huge(maxHTMLFailing+50, 4)
	page := renderHTML(t, r)
	if n := bytes.Count(page, []byte(`<svg class="ladder"`)); n != maxHTMLFailing {
		t.Errorf("%d ladders, want %d", n, maxHTMLFailing)
	}
	if n := bytes.Count(page, []byte(`<details class="conn`)); n != maxHTMLFailing {
		t.Errorf("%d connection sections, want %d", n, maxHTMLFailing)
	}
	if n := bytes.Count(page, []byte(`<details class="conn `)) - bytes.Count(page, []byte(`<details class="conn " id=`)); n != 0 {
		t.Errorf("%d odd connection sections", n)
	}
	if n := bytes.Count(page, []byte(` open>`)); n != 2 { // the group and its first connection
		t.Errorf("%d unfolded <details>, want 2", n)
	}
	if n := bytes.Count(page, []byte(`<g class="lane"`)); n != len(r.Summary.Servers) {
		t.Errorf("%d timeline lanes, want %d (one per server)", n, len(r.Summary.Servers))
	}
	if n := bytes.Count(page, []byte(`<line class="mk fail"`)); n != maxHTMLFailing+50+1 { // and the legend's
		t.Errorf("%d failure marks, want %d", n, maxHTMLFailing+50+1)
	}
	if !bytes.Contains(page, []byte("The page details the first 1,000 failing connections")) {
		t.Error("the page does not say it was capped")
	}
	t.Logf("%d failing connections: %d bytes", len(r.Connections), len(page))
	l := newLadder(&huge(1, 400).Connections[0], "l")
	if len(l.Rows) > maxLadderEvents+2 {
		t.Errorf("ladder has %d rows, want at most %d", len(l.Rows), maxLadderEvents+2)
	}
	if l.Elided == 0 {
		t.Error("ladder elided nothing from a 400-command session")
	}
	// A failing connection's folded section with its ladder takes about
	// 20 kB; the rest of the page is bounded.
	if max := 32<<10*maxHTMLFailing + 1<<20; len(page) > max {
		t.Errorf("page is %d bytes, want under %d", len(page), max)
	}
	checkHTML(t, page)
}

// TestWriteHTMLInChromium renders the seed incident in headless Chromium
// and checks that the ladder is in the DOM and the screenshot is not
// blank. Set SMTPSCOPE_SCREENSHOT=path to keep the screenshot.
func TestWriteHTMLInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	var browser string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no Chromium found (install the Debian package chromium to run this test)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "relay-stall.html")
	if err := os.WriteFile(page, renderHTML(t, summarized(seedIncident())), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "relay-stall.png")
	if p := os.Getenv("SMTPSCOPE_SCREENSHOT"); p != "" {
		shot, _ = filepath.Abs(p)
	}
	var consoleLog bytes.Buffer
	run := func(extra ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000"}, extra...)
		args = append(args, "file://"+page)
		cmd := exec.CommandContext(ctx, browser, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", browser, err, stderr.Bytes())
		}
		consoleLog.Write(stderr.Bytes())
		return out
	}
	// With logging on, Chromium writes every console message as
	// "INFO:CONSOLE..." to stderr; the page has no script and loads
	// nothing, so there must be none.
	dom := run("--dump-dom", "--enable-logging=stderr", "--v=0")
	for _, line := range strings.Split(consoleLog.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Failed to load resource") {
			t.Errorf("console message while rendering: %s", line)
		}
	}
	for _, want := range []string{`<svg class="ladder"`, "end-of-data", "25.0 s without a reply from the server"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	run("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if inked := inkedFraction(img); inked < 0.02 {
		t.Errorf("screenshot is nearly blank: %.2f%% of pixels differ from the background", inked*100)
	}
}

// inkedFraction is the share of pixels that differ clearly from the
// top-left pixel (the page background).
func inkedFraction(img image.Image) float64 {
	b := img.Bounds()
	br, bg, bb, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	diff := func(a, b uint32) uint32 {
		if a > b {
			return a - b
		}
		return b - a
	}
	inked, total := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if diff(r, br)+diff(g, bg)+diff(bl, bb) > 0x3000 {
				inked++
			}
			total++
		}
	}
	return float64(inked) / float64(total)
}

// TestWriteHTMLHealthyFolded checks that healthy connections are one line
// by default (a hub's day has tens of thousands) and a table with --all.
func TestWriteHTMLHealthyFolded(t *testing.T) {
	tests := []struct {
		name      string
		all       bool
		want      []string
		wantCount int // rows of the healthy table
	}{
		{"default", false, []string{"✓</span> 2 healthy connection(s) not listed: <code>--all</code> lists them, or the JSON."}, 0},
		{"all", true, []string{`<details class="healthy">`, "2 healthy connection(s)</h2>"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := summarized(healthy()).WriteHTML(&b, ViewOptions{All: tt.all}); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if n := strings.Count(page, `<td class="mono">10.0.0.5:40001</td>`) + strings.Count(page, `<td class="mono">10.0.0.6:40002</td>`); n != tt.wantCount {
				t.Errorf("%d healthy rows, want %d", n, tt.wantCount)
			}
			checkHTML(t, b.Bytes())
		})
	}
}
