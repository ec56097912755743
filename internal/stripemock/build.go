// Package stripemock runs stripe-mock, Stripe's own API test server, on 127.0.0.1 for tests.
//
// stripe-mock is built from the version pinned in the repository's tools/stripe module, by
// the test command itself, and cached between runs; nothing is installed by hand. It serves
// Stripe's whole API from Stripe's OpenAPI specification: it checks the shape of every
// request and answers with fixtures, keeping no state (see the package gatewaytest for what
// that means for assertions).
package stripemock

import (
	"context"
	"io"
	"path/filepath"

	"github.com/stipend/stipend/internal/toolbuild"
)

// spec is stripe-mock, at the version the repository's tools/stripe module pins.
var spec = toolbuild.Spec{Name: "stripe-mock", Module: "tools/stripe", Packages: []string{"github.com/stripe/stripe-mock"}}

// Build returns the path of the stripe-mock binary, building it on first use (see
// toolbuild.Build; a cold build takes seconds).
func Build(ctx context.Context, logw io.Writer) (string, error) {
	dir, err := toolbuild.Build(ctx, spec, logw)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "stripe-mock"), nil
}
