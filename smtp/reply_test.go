package smtp

import "testing"

func TestParseReplyLine(t *testing.T) {
	valid := []struct {
		in   string
		code int
		more bool
		text string
	}{
		{"250 OK", 250, false, "OK"},
		{"250-mx.example.com Hello", 250, true, "mx.example.com Hello"},
		{"250", 250, false, ""},
		{"250-", 250, true, ""},
		{"354 End data with <CR><LF>.<CR><LF>", 354, false, "End data with <CR><LF>.<CR><LF>"},
		{"421 4.4.2 Connection dropped", 421, false, "4.4.2 Connection dropped"},
		{"599 odd but well-formed", 599, false, "odd but well-formed"},
		{"220  two spaces", 220, false, " two spaces"},
	}
	for _, tc := range valid {
		got, ok := parseReplyLine([]byte(tc.in))
		if !ok || got.code != tc.code || got.more != tc.more || string(got.text) != tc.text {
			t.Errorf("parseReplyLine(%q) = %d %v %q %v, want %d %v %q true", tc.in, got.code, got.more, got.text, ok, tc.code, tc.more, tc.text)
		}
	}
	invalid := []string{
		"", "25", "2500 OK", "250:OK", "150 not SMTP", "650 no", "A50 x", "2x0 x",
		"4.7.0 [IPTS04] deferred", "HTTP/1.1 200 OK", "\x00\x01\x02", "250\tOK",
	}
	for _, in := range invalid {
		if got, ok := parseReplyLine([]byte(in)); ok {
			t.Errorf("parseReplyLine(%q) = %+v, want not a reply line", in, got)
		}
	}
}

func TestSplitEnhanced(t *testing.T) {
	tests := []struct {
		in, code, rest string
	}{
		{"2.0.0 Ok: queued as ABC", "2.0.0", "Ok: queued as ABC"},
		{"4.4.2 Connection dropped", "4.4.2", "Connection dropped"},
		{"5.7.1", "5.7.1", ""},
		{"4.7.320 Certificate validation failed", "4.7.320", "Certificate validation failed"},
		{"5.7.900 Rule", "5.7.900", "Rule"},
		{"Ok", "", "Ok"},
		{"3.0.0 not a class", "", "3.0.0 not a class"},
		{"5.7.1234 too long detail", "", "5.7.1234 too long detail"},
		{"5.7 short", "", "5.7 short"},
		{"5..1 empty subject", "", "5..1 empty subject"},
		{"2.0.0Ok", "", "2.0.0Ok"},
		{"", "", ""},
		{"2.1.5", "2.1.5", ""},
		{"5.07.001 leading zeros", "5.7.1", "leading zeros"},
	}
	for _, tc := range tests {
		code, rest := splitEnhanced([]byte(tc.in))
		if code.String() != tc.code || string(rest) != tc.rest {
			t.Errorf("splitEnhanced(%q) = %q, %q, want %q, %q", tc.in, code, rest, tc.code, tc.rest)
		}
	}
}

func TestEnhancedCode(t *testing.T) {
	tests := []struct {
		e     EnhancedCode
		str   string
		class int
	}{
		{EnhancedCode{5, 7, 1}, "5.7.1", 5},
		{EnhancedCode{4, 7, 320}, "4.7.320", 4},
		{EnhancedCode{2, 0, 0}, "2.0.0", 2},
		{EnhancedCode{}, "", 0},
	}
	for _, tc := range tests {
		if got := tc.e.String(); got != tc.str {
			t.Errorf("%v.String() = %q, want %q", [3]int(tc.e), got, tc.str)
		}
		if got := tc.e.Class(); got != tc.class {
			t.Errorf("%v.Class() = %d, want %d", [3]int(tc.e), got, tc.class)
		}
		if got := tc.e.IsZero(); got != (tc.str == "") {
			t.Errorf("%v.IsZero() = %v", [3]int(tc.e), got)
		}
		if got := ParseEnhancedCode(tc.str); got != tc.e {
			t.Errorf("ParseEnhancedCode(%q) = %v, want %v", tc.str, [3]int(got), [3]int(tc.e))
		}
		if b, _ := tc.e.MarshalText(); string(b) != tc.str {
			t.Errorf("%v.MarshalText() = %q, want %q", [3]int(tc.e), b, tc.str)
		}
	}
}

func TestParseEnhancedCodeInvalid(t *testing.T) {
	for _, in := range []string{"5.7", "5.7.1 text", "x", "3.0.0", "5.7.1234"} {
		if got := ParseEnhancedCode(in); !got.IsZero() {
			t.Errorf("ParseEnhancedCode(%q) = %v, want zero", in, [3]int(got))
		}
	}
}

func TestReplyClass(t *testing.T) {
	tests := []struct {
		r    Reply
		want int
	}{
		{Reply{Code: 250}, 2},
		{Reply{Code: 354}, 3},
		{Reply{Code: 451, Enhanced: EnhancedCode{5, 7, 3}}, 4}, // the basic code decides (SMTP-CODES §2)
		{Reply{Code: 550, Enhanced: EnhancedCode{4, 4, 7}}, 5},
		{Reply{Code: 0, Enhanced: EnhancedCode{4, 7, 0}}, 4},
		{Reply{}, 0},
	}
	for _, tc := range tests {
		if got := tc.r.Class(); got != tc.want {
			t.Errorf("%+v.Class() = %d, want %d", tc.r, got, tc.want)
		}
	}
}

func TestParsePartialReply(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		code int
		enh  string
	}{
		{"250 2.0.0 Ok: queued as 1234", true, 250, "2.0.0"},
		{"250", true, 250, ""},
		{"25", true, 0, ""},
		{"250-first line", true, 250, ""},
		{"hello", false, 0, ""},
		{"", false, 0, ""},
	}
	for _, tc := range tests {
		r, ok := parsePartialReply([]byte(tc.in))
		if ok != tc.ok || r.Code != tc.code || r.Enhanced.String() != tc.enh {
			t.Errorf("parsePartialReply(%q) = %+v, %v, want code %d enhanced %q, %v", tc.in, r, ok, tc.code, tc.enh, tc.ok)
		}
	}
}
