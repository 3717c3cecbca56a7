package health

import (
	"strings"
	"unicode/utf8"
)

// ReasonLimit is the most bytes a Result.Reason holds: a status line, not a
// page.
const ReasonLimit = 120

// CleanReason is what every Result.Reason goes through: the text a real
// server sends (the first line of a 503 readiness body) reaches terminals
// (controller status, controller top) and the page, so a hostile server must
// not be able to set a terminal's title, leave its alternate screen or
// overwrite a line with \r. Control characters (C0 including \t \r \n, DEL,
// C1, hence every ESC) and invalid UTF-8 become U+FFFD; the result is clipped
// to ReasonLimit bytes on a UTF-8 boundary, ending in "..." when clipped.
func CleanReason(s string) string {
	s = CleanText(s)
	if len(s) <= ReasonLimit {
		return s
	}
	cut := ReasonLimit - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// CleanText replaces every control character (see IsControl) and every
// invalid UTF-8 byte with U+FFFD, without clipping.
func CleanText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s { // invalid bytes arrive as utf8.RuneError
		if IsControl(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// IsControl reports the runes a terminal acts on instead of printing: C0
// (U+0000-U+001F, with ESC), DEL and C1 (U+0080-U+009F, with CSI and OSC).
func IsControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}
