# syntax=docker/dockerfile:1

# Stipend server image.
#
#   docker build -t stipendd --build-arg VERSION=v1.2.3 .
#   docker run -p 127.0.0.1:8402:8402 -v stipend-data:/data stipendd
#
# Without STIPEND_DATABASE_URL the server keeps a SQLite database in the /data volume; set it to
# a postgres:// URL to use PostgreSQL instead (docker-compose.yml does). The first start prints
# the bootstrap admin API key once on stdout: read it with "docker logs".

# The build stage runs on the builder's own platform and cross-compiles to the target's, so a
# multi-platform build (docker buildx build --platform linux/amd64,linux/arm64) never emulates
# the Go toolchain.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Dependencies first, in their own layer, so that editing the source does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

ARG TARGETOS
ARG TARGETARCH
# VERSION is stamped into "stipendd version", /metrics and the API; .git is not in the build
# context, so without it the binary calls itself "dev".
ARG VERSION=dev

# CGO_ENABLED=0 gives static binaries that run on a distroless image with no C library: SQLite is
# the pure-Go modernc.org/sqlite and PostgreSQL is pgx, so nothing needs cgo.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/ ./cmd/stipendd ./cmd/stipend

# The data directory is made here because the runtime image has no shell to make it with; copied
# with the nonroot owner, a named volume mounted on it starts out writable by the server.
RUN mkdir -p /out/data


# static-debian12 carries CA certificates (for sslmode=verify-full), tzdata and a nonroot user
# (65532), and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
LABEL org.opencontainers.image.title="stipendd" \
      org.opencontainers.image.description="Stipend payments service" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=build /out/stipendd /out/stipend /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data

# 0.0.0.0, not the default 127.0.0.1: inside a container the loopback address cannot be reached
# through a published port.
ENV STIPEND_DATA_DIR=/data \
    STIPEND_LISTEN=0.0.0.0:8402

USER 65532:65532
VOLUME ["/data"]
EXPOSE 8402

# Exec form, because there is no shell to run the shell form. "stipendd healthcheck" reads the same
# STIPEND_LISTEN and dials 127.0.0.1 for the unspecified address 0.0.0.0.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/stipendd", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/stipendd"]
CMD ["serve"]
