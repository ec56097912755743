// Package l402 is the credential core of Stipend's HTTP 402 priced endpoints (DESIGN.md
// section 6): the L402 macaroon identifier, minting and verification of macaroons on
// gopkg.in/macaroon.v2, the LSAT/L402 header formats, and the challenge id of the IETF
// "Payment" scheme. It has no HTTP middleware; that is built on top of it.
//
// # Why not Lightning Labs' aperture
//
// github.com/lightninglabs/aperture has l402 and mint packages that do much of this. We write
// our own small package for these reasons, checked against aperture's sources:
//
//   - Its go.mod is one module for the whole proxy. Importing its l402 package adds aperture's
//     requirements to our module graph (etcd client and server, golang-migrate, dockertest,
//     the MCP SDK, lightning-node-connect, and more), and minimum version selection would
//     upgrade modules we already use, such as gopkg.in/macaroon-bakery.v2 from v2.0.1 to
//     v2.1.0. The l402 package itself compiles in lndclient, lnrpc, zpay32 and grpc. Stipend
//     already depends on lnd and etcd arrives through it, so the cost is less the size than
//     giving a proxy's release cycle a say in our versions.
//   - Its verifier skips caveats it has no satisfier for; ours refuses any caveat it does not
//     understand, so a credential can never carry a restriction that we silently ignore.
//   - Its caveats are per service ("services=name:tier", "<service>_valid_until"); ours are
//     per route and method, which is what Stipend prices.
//   - Its errors and debug logs include the preimage and the Authorization header value; ours
//     never put a credential into an error message.
//   - Its root keys are keyed by sha256 of the whole identifier; ours are keyed by token id,
//     which is what the identifier exists to carry.
//
// The wire formats are aperture's, so Lightning Labs' clients (lnget, aperture's client
// interceptor) can decode our identifiers and pay our challenges: identifier version 0 is a
// big-endian uint16 version, the 32-byte payment hash and the 32-byte token id; caveats are
// first-party "condition=value" strings; the challenge is `L402 macaroon="<base64>",
// invoice="<bolt11>"` and the credential `L402 <base64 macaroon>:<hex preimage>`.
//
// # Errors
//
// Every refused credential is one EUNAUTHORIZED error, whatever the reason, so that a caller
// cannot probe which check failed (unknown token, bad signature, wrong route, expiry,
// preimage). EUNAUTHORIZED rather than EFORBIDDEN because a refused credential does not
// prove who the caller is or that they paid: the request is unauthenticated, and the
// middleware answers it with a fresh 402 challenge. A malformed header is EINVALID. No
// message ever contains a macaroon or a preimage.
package l402
