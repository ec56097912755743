# syntax=docker/dockerfile:1

# btcd, the Bitcoin full node that docker-compose.yml runs in regtest mode for lnd, and btcctl,
# its command-line client (for the health check and for mining by hand).
#
#   docker build -f deploy/btcd.Dockerfile -t stipend-btcd .
#
# The build context is the repository's root, but only tools/go.mod and tools/go.sum are used
# (deploy/btcd.Dockerfile.dockerignore keeps everything else out): btcd is built from the tools
# module, at the version pinned there, the same binary the regtest tests run. The command line
# (network, RPC credentials, certificate paths) is docker-compose.yml's.

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src/tools

# The tools module's go.mod and go.sum are all a build needs: btcd comes from the module cache,
# at the version and with the checksums that they pin.
COPY tools/go.mod tools/go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

ARG TARGETOS
ARG TARGETARCH

# btcctl is a package of the btcd module itself, so it is the same version as btcd. -mod=readonly
# (the default, stated here) makes the build fail rather than change a pinned version.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-mod=readonly \
    go build -trimpath -ldflags "-s -w" -o /out/bin/ github.com/btcsuite/btcd github.com/btcsuite/btcd/cmd/btcctl

# The directories that docker-compose.yml mounts volumes on: /btcd for the chain and the logs,
# /btcd-tls for the RPC certificate and its key. Made here, because the runtime image has no
# shell, and copied with the nonroot owner so that a new named volume starts out writable.
RUN mkdir -p /out/btcd /out/btcd-tls


# The same base and user as stipendd's image: no shell, no package manager, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="stipend-btcd" \
      org.opencontainers.image.description="btcd and btcctl at the versions pinned by Stipend's tools module"

COPY --from=build /out/bin/btcd /out/bin/btcctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/btcd /btcd
COPY --from=build --chown=65532:65532 /out/btcd-tls /btcd-tls

USER 65532:65532
VOLUME ["/btcd", "/btcd-tls"]

# 18334 is btcd's RPC port on regtest (and testnet), 18444 its peer-to-peer port on regtest.
EXPOSE 18334 18444

ENTRYPOINT ["/usr/local/bin/btcd"]
