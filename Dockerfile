# syntax=docker/dockerfile:1
#
# One image with every server: federation, compliance, bridge, cosigner, callbacks-example and
# sandbox (the co-signer is meant for another host: run this image there with `cosigner`).
# docker-compose.yml picks the server with `command:`; configuration comes from environment
# variables (FEDERATION__…, COMPLIANCE__…, BRIDGE__…, COSIGNER__…) and secrets from files (…_FILE).
#
#   docker build -t stellar-trio .
#   docker run --rm stellar-trio federation -v

# --- build -----------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
# diesel links the MariaDB and PostgreSQL client libraries; SQLite is bundled.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libmariadb-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and compiled dependencies between builds; the
# binaries are copied out of the cached target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      --bin federation --bin compliance --bin bridge --bin cosigner --bin callbacks-example \
      --bin sandbox \
 && mkdir -p /out \
 && cp target/release/federation target/release/compliance target/release/bridge \
       target/release/cosigner target/release/callbacks-example target/release/sandbox /out/

# --- run -------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# Runtime libraries for MariaDB/MySQL and PostgreSQL, the CA roots for HTTPS to Horizon and to
# other banks, and curl for health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# Never run as root; /var/lib/trio holds SQLite files (callbacks-example) on a volume.
RUN useradd --system --uid 10001 --home-dir /var/lib/trio --create-home trio
COPY --from=builder /out/ /usr/local/bin/
USER trio
WORKDIR /var/lib/trio
# Each server stops gracefully on SIGTERM (in-flight requests finish), which is what
# `docker stop` sends.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "echo 'usage: docker run IMAGE federation|compliance|bridge|cosigner|callbacks-example|sandbox [ARGS]' >&2; exit 2"]
