# syntax=docker/dockerfile:1

# lnd, the Lightning node that stipendd talks to in docker-compose.yml, and lncli.
#
#   docker build -f deploy/lnd.Dockerfile -t stipend-lnd .
#
# Why not the official lightninglabs/lnd image: this image is built from the repository's tools
# module, so lnd is exactly the version (and the dependency set, with lnd's replace directives)
# pinned in tools/go.mod, the same lnd the regtest tests run and whose lnrpc stipendd is
# compiled against. Moving the pin moves this image with it; an image tag would be a second pin
# to keep in step by hand. The build context is the repository's root, but only tools/go.mod
# and tools/go.sum are used (deploy/lnd.Dockerfile.dockerignore keeps everything else out).

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src/tools

COPY tools/go.mod tools/go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

ARG TARGETOS
ARG TARGETARCH

# The tags are the RPC sub-servers: invoicesrpc for hold invoices and routerrpc for
# SendPaymentV2 and TrackPaymentV2, which stipendd uses, and the others that lndclient expects.
# They are internal/regtest's BuildTags less "integration", which makes the wallet's key
# derivation cheap so that test nodes start quickly, and is for the tests only.
#
# build.Commit is what "lnd --version" and getinfo report besides the version compiled into lnd;
# the release builds set it to the tag, which here is the module version tools/go.mod pins.
# -mod=readonly (the default, stated here) makes the build fail rather than change a pinned
# version.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    LND_VERSION="$(go list -m -f '{{.Version}}' github.com/lightningnetwork/lnd)" && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-mod=readonly \
    go build -trimpath \
        -tags "signrpc walletrpc chainrpc invoicesrpc routerrpc peersrpc" \
        -ldflags "-s -w -X github.com/lightningnetwork/lnd/build.Commit=${LND_VERSION}" \
        -o /out/bin/ github.com/lightningnetwork/lnd/cmd/lnd github.com/lightningnetwork/lnd/cmd/lncli

# The directory that docker-compose.yml mounts lnd's volume on (--lnddir). Made here, because
# the runtime image has no shell, and copied with the nonroot owner so that a new named volume
# starts out writable.
RUN mkdir -p /out/lnd


# The same base and user as stipendd's image: no shell, no package manager, uid 65532. The user
# matters: lnd writes admin.macaroon with mode 0640 in directories of mode 0700, and stipendd
# reads it (and tls.cert) through a read-only mount of this image's volume, which it can only do
# as the same uid.
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="stipend-lnd" \
      org.opencontainers.image.description="lnd and lncli at the versions pinned by Stipend's tools module"

COPY --from=build /out/bin/lnd /out/bin/lncli /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/lnd /lnd

USER 65532:65532
VOLUME ["/lnd"]

# 9735 is the peer-to-peer port, 10009 gRPC.
EXPOSE 9735 10009

ENTRYPOINT ["/usr/local/bin/lnd"]
