# syntax=docker/dockerfile:1.7
# One image, four binaries: enrollment, relationship, agreement and transfer. A Deployment
# picks its service with `command`. Build from the repository root:
#   docker build -t registry.example.com/csp-suite:0.1.0 .

ARG RUST_VERSION=1.95.0

# --- toolchain with cargo-chef -------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG RUST_VERSION
# Overrides rust-toolchain.toml, whose rustfmt and clippy components a release build does not
# need (rustup would download them on every cold build).
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /build

# --- recipe: the dependency graph only, so it changes only when Cargo.toml/lock change -------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- build: dependencies in their own cached layer, then the workspace ----------------------
FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json \
        -p enrollment -p relationship -p agreement -p transfer
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked \
        -p enrollment -p relationship -p agreement -p transfer \
 && mkdir -p /out \
 && for service in enrollment relationship agreement transfer; do \
        install -m 0555 "target/release/${service}" "/out/${service}"; \
    done

# --- runtime: glibc and CA certificates, no shell, no package manager, uid 65532 -------------
# For reproducible releases pin the base by digest (`...:nonroot@sha256:...`).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/ /usr/local/bin/
USER 65532:65532
# The four default gRPC ports (each container listens on one, LISTEN_ADDR) and the metrics
# port (METRICS_ADDR in the manifests).
EXPOSE 50051 50052 50053 50054 9464
# No default command: the Deployment names the binary, e.g. ["/usr/local/bin/enrollment"].
