# sso-gateway container image (multi-stage).
#
# Build:  docker build -t sso-gateway .
# Run:    docker run --rm -p 8080:8080 -v sso-gateway-data:/var/lib/sso-gateway/data \
#           -e SSO_GATEWAY__SERVER__PUBLIC_URL=https://sso.example.com sso-gateway
#
# Configuration is compiled in (config/default.toml); override any key with
# SSO_GATEWAY__SECTION__KEY environment variables. By default the gateway uses a
# SQLite file (data/sso-gateway.db) and an in-process cache; for PostgreSQL and
# Redis set e.g.
#   SSO_GATEWAY__DATABASE__URL=postgres://user:pass@db:5432/sso
#   SSO_GATEWAY__CACHE__URL=redis://redis:6379/0
# The secret-encryption key file (data/secret.key) is also kept in the data volume
# unless SSO_GATEWAY__SECRETS__ENCRYPTION_KEY is set.

# ---------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      pkg-config libxml2-dev libxmlsec1-dev libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies first, against dummy sources, so this layer is cached until
# Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml names the [[bench]] targets; cargo refuses a manifest whose
# declared targets have no file, even when it does not build them.
COPY benches ./benches
# samael with its one patch ([patch.crates-io] in Cargo.toml; vendor/README.md).
COPY vendor ./vendor
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. config/default.toml and migrations/ are embedded at compile
# time (include_str!, sqlx::migrate!; build.rs reruns on a new migration),
# templates by askama.
COPY build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY templates ./templates
COPY assets ./assets

# COPY keeps the sources' (older) mtimes: touch them and drop the dummy crate's
# artifacts so cargo really rebuilds sso-gateway itself.
RUN touch src/main.rs src/lib.rs \
 && rm -rf target/release/.fingerprint/sso-gateway-* \
           target/release/deps/sso_gateway-* target/release/deps/libsso_gateway-* \
           target/release/sso-gateway \
 && cargo build --release --locked \
 && install -m 0755 target/release/sso-gateway /usr/local/bin/sso-gateway

# ---------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates libxml2 libxmlsec1 libxmlsec1-openssl libssl3 \
 && rm -rf /var/lib/apt/lists/*

# Non-root user; the working directory holds the relative default paths
# (data/sso-gateway.db, data/secret.key). data/ exists and is owned by the user
# before VOLUME so fresh named volumes inherit that ownership.
RUN groupadd --system --gid 10001 sso-gateway \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sso-gateway \
      --no-create-home --shell /usr/sbin/nologin sso-gateway \
 && mkdir -p /var/lib/sso-gateway/data \
 && chown -R 10001:10001 /var/lib/sso-gateway
WORKDIR /var/lib/sso-gateway

COPY --from=builder /usr/local/bin/sso-gateway /usr/local/bin/sso-gateway

ENV SSO_GATEWAY__SERVER__BIND=0.0.0.0:8080
EXPOSE 8080
USER 10001
VOLUME /var/lib/sso-gateway/data

ENTRYPOINT ["/usr/local/bin/sso-gateway"]
CMD ["serve"]
