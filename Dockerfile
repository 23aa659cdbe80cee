# syntax=docker/dockerfile:1
#
# The CyxWiz central server and its tools, as one small image:
#   /cyxwiz-central     the server (ENTRYPOINT); also `token`, `replay`, `audit`, `healthcheck`
#   /cyxwiz-node-sim    the node fleet simulator and demo client (docker-compose.yml uses it)
#   /cyxwiz-load        the load tool
#
#   docker build -t cyxwiz/central-server .
#   docker run --rm -p 50051:50051 -p 8080:8080 cyxwiz/central-server     # embedded mode, data in /var/lib/cyxwiz
#
# Static binaries (CGO_ENABLED=0) on distroless/static: no shell, no package
# manager, runs as the unprivileged "nonroot" user (65532). The HEALTHCHECK
# is the server binary probing its own gRPC health service.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=0.1.0-docker
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/cyxwiz-central ./cmd/cyxwiz-central && \
    go build -trimpath -ldflags="-s -w" -o /out/cyxwiz-node-sim ./cmd/cyxwiz-node-sim && \
    go build -trimpath -ldflags="-s -w" -o /out/cyxwiz-load ./cmd/cyxwiz-load
# The data directory and the TLS certificates' (docker-compose.tls.yml),
# owned by the runtime user: a named volume mounted here starts with this
# ownership.
RUN mkdir -p /out/var/lib/cyxwiz /out/etc/cyxwiz/certs && \
    chown 65532:65532 /out/var/lib/cyxwiz /out/etc/cyxwiz/certs && chmod 0700 /out/var/lib/cyxwiz /out/etc/cyxwiz/certs

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="cyxwiz-central" \
      org.opencontainers.image.description="CyxWiz central server: event-sourced orchestrator of a paid ML compute network"
COPY --from=build /out/cyxwiz-central /out/cyxwiz-node-sim /out/cyxwiz-load /
COPY --from=build --chown=65532:65532 /out/var/lib/cyxwiz /var/lib/cyxwiz
COPY --from=build --chown=65532:65532 /out/etc/cyxwiz/certs /etc/cyxwiz/certs
COPY --chown=65532:65532 config.toml /etc/cyxwiz/config.toml
WORKDIR /var/lib/cyxwiz
ENV CYXWIZ_EVENTSTORE_DATA_DIR=/var/lib/cyxwiz
USER 65532:65532
EXPOSE 50051 8080
VOLUME ["/var/lib/cyxwiz"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/cyxwiz-central", "healthcheck", "--addr", "127.0.0.1:50051", "--timeout", "3s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/cyxwiz-central"]
CMD ["serve", "--config", "/etc/cyxwiz/config.toml"]
