# syntax=docker/dockerfile:1
# RustChat: one image, one node. Build with `docker build -t rustchat .`; run one node per container:
# `docker run -p 3000:3000 --env-file .env rustchat` (the README documents the same two commands).
# Secrets (RUSTCHAT_JWT_SECRET, RUSTCHAT_ENCRYPTION_KEY) and the database/Redis URLs come from the
# environment at run time (Kubernetes: k8s/); nothing secret is baked into the image.

# ---- builder ---------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# 1. Dependencies only, cached until Cargo.toml/Cargo.lock or vendor/ change: the workspace manifests
#    with stub sources, so `cargo build` compiles every dependency and nothing of ours. vendor/ holds
#    the patched actix-http that Cargo.toml's [patch.crates-io] points at: a dependency, built here.
#    `scripts/docker-build-check` (run by .ci/run) builds this file for real.
COPY Cargo.toml Cargo.lock build.rs ./
COPY vendor vendor
COPY actors/Cargo.toml actors/Cargo.toml
COPY load/Cargo.toml load/Cargo.toml
RUN mkdir -p src actors/src load/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs actors/src/lib.rs \
    && echo 'fn main() {}' > load/src/main.rs \
    && cargo build --release --locked \
    && rm -rf src actors/src load/src

# 2. The real sources. migrations/ is embedded in the binary by sqlx::migrate!, and web/ (the web
#    client) by include_bytes!, so both must be here before the final build. `touch` makes cargo see the sources as newer than the stub build.
COPY migrations migrations
COPY web web
COPY actors/src actors/src
COPY load/src load/src
COPY src src
RUN touch src/main.rs src/lib.rs actors/src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/rustchat

# ---- runtime ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: TLS to PostgreSQL, Redis and the OpenID provider; curl: the HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 rustchat \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rustchat --no-create-home \
       --shell /usr/sbin/nologin rustchat \
    && mkdir -p /var/lib/rustchat \
    && chown 10001:10001 /var/lib/rustchat

COPY --from=builder /src/target/release/rustchat /usr/local/bin/rustchat

WORKDIR /var/lib/rustchat
ENV RUSTCHAT_DATA_DIR=/var/lib/rustchat \
    RUSTCHAT_LOG_FORMAT=json
USER 10001:10001
EXPOSE 3000
# SIGTERM: readiness fails at once, the node drains (RUSTCHAT_SHUTDOWN_DRAIN_SECONDS), closes
# WebSockets with 1012, finishes in-flight requests (RUSTCHAT_SHUTDOWN_GRACE_SECONDS) and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:3000/api/v1/health/live"]
ENTRYPOINT ["/usr/local/bin/rustchat"]
