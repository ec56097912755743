package stipend

import (
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new identifier such as "acct_0193b5e1c7a87c4f9a1d2e3f4a5b6c7d": a prefix
// naming the kind of object and a UUIDv7 in hex. Identifiers sort by creation time, which
// cursor pagination relies on.
func NewID(prefix string) string {
	u := uuid.Must(uuid.NewV7())
	return prefix + "_" + strings.ReplaceAll(u.String(), "-", "")
}
