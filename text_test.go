package stipend_test

import (
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stipend/stipend"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		s          string
		max        int
		allowEmpty bool
		wantCode   string
	}{
		{"plain text", "Alice Smith", 100, false, ""},
		{"accents", "Zo\u00eb Caf\u00e9", 100, false, ""},
		{"CJK", "\u65e5\u672c\u8a9e", 100, false, ""},
		{"emoji", "thanks \U0001F44D", 100, false, ""},
		{"combining accent", "e\u0301", 100, false, ""},
		{"tab", "a\tb", 100, false, ""},
		{"newline", "line 1\nline 2", 100, false, ""},
		{"empty when allowed", "", 100, true, ""},
		{"empty when not allowed", "", 100, false, stipend.EINVALID},

		// Length is counted in characters, never bytes.
		{"exactly max ASCII", "abcde", 5, false, ""},
		{"one over max ASCII", "abcdef", 5, false, stipend.EINVALID},
		{"max two-byte characters", strings.Repeat("\u00e9", 5), 5, false, ""},
		{"max four-byte characters", strings.Repeat("\U0001F600", 5), 5, false, ""},
		{"one over max four-byte characters", strings.Repeat("\U0001F600", 6), 5, false, stipend.EINVALID},

		// Control characters, other than tab and newline.
		{"NUL", "a\x00b", 100, false, stipend.EINVALID},
		{"carriage return", "a\rb", 100, false, stipend.EINVALID},
		{"escape sequence", "\x1b[31mred", 100, false, stipend.EINVALID},
		{"bell", "a\x07", 100, false, stipend.EINVALID},
		{"DEL", "a\x7f", 100, false, stipend.EINVALID},
		{"C1 next line", "a\u0085b", 100, false, stipend.EINVALID},
		{"vertical tab", "a\vb", 100, false, stipend.EINVALID},

		// Format characters that make one text look like another.
		{"right-to-left override", "invoice\u202etxt.exe", 100, false, stipend.EINVALID},
		{"left-to-right override", "a\u202db", 100, false, stipend.EINVALID},
		{"right-to-left isolate", "a\u2067b", 100, false, stipend.EINVALID},
		{"right-to-left mark", "a\u200fb", 100, false, stipend.EINVALID},
		{"zero-width space", "ad\u200bmin", 100, false, stipend.EINVALID},
		{"zero-width joiner", "a\u200db", 100, false, stipend.EINVALID},
		{"byte order mark", "\ufeffadmin", 100, false, stipend.EINVALID},
		{"soft hyphen", "ad\u00admin", 100, false, stipend.EINVALID},
		{"word joiner", "a\u2060b", 100, false, stipend.EINVALID},

		{"private use", "a\ue000", 100, false, stipend.EINVALID},
		{"supplementary private use", "a\U000F0000", 100, false, stipend.EINVALID},
		{"noncharacter U+FFFE", "a\ufffe", 100, false, stipend.EINVALID},
		{"noncharacter U+FFFF", "a\uffff", 100, false, stipend.EINVALID},
		{"noncharacter U+FDD0", "a\ufdd0", 100, false, stipend.EINVALID},
		{"noncharacter U+1FFFF", "a\U0001FFFF", 100, false, stipend.EINVALID},
		// A replacement character is what a broken decoder leaves behind.
		{"replacement character", "a\ufffd", 100, false, stipend.EINVALID},

		{"invalid byte", "a\xffb", 100, false, stipend.EINVALID},
		{"truncated sequence", "caf\xc3", 100, false, stipend.EINVALID},
		{"overlong encoding", "\xc0\xaf", 100, false, stipend.EINVALID},
		{"encoded surrogate", "\xed\xa0\x80", 100, false, stipend.EINVALID},
		// Invalid UTF-8 is refused even when allowEmpty would let an empty text through.
		{"invalid byte when empty is allowed", "\xff", 100, true, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := stipend.CheckText("name", tc.s, tc.max, tc.allowEmpty)
			if got := stipend.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("CheckText(%q, %d, %v): code %q, want %q (%v)", tc.s, tc.max, tc.allowEmpty, got, tc.wantCode, err)
			}
			// The client must learn which field was wrong.
			if err != nil && !strings.HasPrefix(stipend.ErrorMessage(err), "name: ") {
				t.Errorf("message %q does not start with the field name", stipend.ErrorMessage(err))
			}
		})
	}
}

func TestCheckTextNamesTheInvisibleCharacter(t *testing.T) {
	t.Parallel()
	// Someone looking at a refused name cannot see the character, so the message names it.
	msg := stipend.ErrorMessage(stipend.CheckText("handle", "abc\u202e", 39, false))
	if !strings.Contains(msg, "U+202E") {
		t.Fatalf("message %q does not name U+202E", msg)
	}
}

func TestNewIDHasAPrefixAndAUUIDv7InHex(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"acct", "key", "tx"} {
		id := stipend.NewID(prefix)
		rest, ok := strings.CutPrefix(id, prefix+"_")
		if !ok {
			t.Fatalf("NewID(%q) = %q, want the prefix %q", prefix, id, prefix+"_")
		}
		b, err := hex.DecodeString(rest)
		if err != nil || len(b) != 16 || strings.ToLower(rest) != rest {
			t.Fatalf("NewID(%q) = %q, want 32 lower-case hex characters after the prefix", prefix, id)
		}
		// The version nibble says the id is time-ordered, which pagination relies on.
		if v := b[6] >> 4; v != 7 {
			t.Fatalf("NewID(%q) = %q is a version %d UUID, want 7", prefix, id, v)
		}
	}
}

func TestNewIDsSortInCreationOrder(t *testing.T) {
	t.Parallel()
	// Many ids are made within one millisecond here, which is where ordering is hardest.
	ids := make([]string, 10_000)
	for i := range ids {
		ids[i] = stipend.NewID("tx")
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("id %d (%s) does not sort after id %d (%s)", i, ids[i], i-1, ids[i-1])
		}
	}
}

func TestNewIDsAreUniqueAcrossGoroutines(t *testing.T) {
	t.Parallel()
	const workers, each = 8, 2_000
	var (
		mu  sync.Mutex
		all []string
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = stipend.NewID("acct")
			}
			mu.Lock()
			all = append(all, ids...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	if n := len(slices.Compact(all)); n != workers*each {
		t.Fatalf("%d ids made, %d distinct", workers*each, n)
	}
}
