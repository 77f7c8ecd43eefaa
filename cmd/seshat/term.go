package main

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// safe returns s as the command prints it to a terminal: unchanged when
// every character of it is printable, otherwise quoted as a Go string
// literal (strconv.Quote), so that no byte of stored data reaches the
// terminal as a control. What gets escaped: C0 controls (ESC, CR, LF,
// NUL, tab, which would also split a table cell or forge a row), DEL, C1
// controls (U+009B is a one-character CSI), invalid UTF-8 (a lone 0x9B
// byte is CSI in an 8-bit terminal), bidirectional overrides and isolates
// (U+202A–U+202E, U+2066–U+2069, which reorder what follows on the line),
// and every other character that is not graphic (strconv.IsPrint). A
// string that starts with a double quote is quoted too, so a quoted
// output always means "this was escaped".
//
// Every string that comes from the store, from Redis or from the command
// line goes through safe before it is printed; --json output is escaped by
// jsonSafe instead, which keeps it exact.
func safe(s string) string {
	if strings.HasPrefix(s, `"`) || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// jsonSafe rewrites JSON from encoding/json so that it holds no character
// a terminal acts on: encoding/json already escapes C0 controls, but
// leaves DEL, C1 controls and bidirectional controls raw. Each such
// character (and any other that is not graphic) becomes a \uXXXX escape.
// It can only occur inside a string, where the escape stands for the same
// character, so the JSON decodes to exactly the same values.
func jsonSafe(b []byte) []byte {
	var out bytes.Buffer
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r < utf8.RuneSelf && r != 0x7f:
			out.WriteByte(b[i])
		case r == utf8.RuneError && n == 1: // not from encoding/json, which writes valid UTF-8
			out.WriteString(`\ufffd`)
		case r == 0x7f || !strconv.IsPrint(r):
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				writeU(&out, r1)
				writeU(&out, r2)
			} else {
				writeU(&out, r)
			}
		default:
			out.Write(b[i : i+n])
		}
		i += n
	}
	return out.Bytes()
}

func writeU(b *bytes.Buffer, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	b.WriteByte(hex[r>>12&0xf])
	b.WriteByte(hex[r>>8&0xf])
	b.WriteByte(hex[r>>4&0xf])
	b.WriteByte(hex[r&0xf])
}
