package stipend

import (
	"unicode"
	"unicode/utf8"
)

// CheckText returns EINVALID naming field unless s is valid UTF-8 of at most max characters
// with no control, format or private-use characters. Format characters include the bidi
// overrides and zero-width characters that make one name look like another.
// Tabs and newlines are allowed; empty text only when allowEmpty.
func CheckText(field, s string, max int, allowEmpty bool) error {
	if s == "" {
		if allowEmpty {
			return nil
		}
		return Errorf(EINVALID, "%s: must not be empty", field)
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s: must be valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Errorf(EINVALID, "%s: at most %d characters, got %d", field, max, n)
	}
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) || r == utf8.RuneError || isNoncharacter(r) {
			return Errorf(EINVALID, "%s: contains a control or invisible character (U+%04X)", field, r)
		}
	}
	return nil
}

func isNoncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}
