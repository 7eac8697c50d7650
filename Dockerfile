# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# cmake is only a fallback for aws-lc-sys (rustls' crypto backend); its default
# cc-based build needs nothing beyond the gcc already in this image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# 1. The dependencies, in a layer of their own that only a change to a Cargo.toml or to
#    Cargo.lock rebuilds: the manifests alone, with empty stubs for the sources of the
#    workspace's own crates (each member's src/lib.rs; the root package's src/lib.rs and
#    src/main.rs). Those are all the targets `--bin crowd` builds: the tests/ targets are not
#    built, so they need no stub. Every workspace member must be in MEMBERS and have its
#    Cargo.toml copied here (scripts/check_compose.py checks both).
ARG MEMBERS="api client dispatcher worker shared"
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/Cargo.toml
COPY client/Cargo.toml client/Cargo.toml
COPY dispatcher/Cargo.toml dispatcher/Cargo.toml
COPY worker/Cargo.toml worker/Cargo.toml
COPY shared/Cargo.toml shared/Cargo.toml
# BuildKit cache mounts keep the registry (downloads) across builds. The target dir is in
# the layer, not a cache mount: a cache mount's contents reach neither the image nor an
# exported build cache (--cache-to), so a builder that starts empty (CI) would compile every
# dependency again, and a mount over /build/target would hide this layer's from step 2.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    for member in $MEMBERS; do mkdir -p "$member/src" && touch "$member/src/lib.rs"; done \
 && mkdir -p src && touch src/lib.rs && echo 'fn main() {}' > src/main.rs \
 && cargo build --release --locked --bin crowd

# 2. The project itself: the whole context, over the stubs: workspace members, src/, tests/,
#    and schema/ (migrations are embedded at compile time). COPY keeps the context's file
#    times, which may be older than the stubs' build; touched, every source is newer, so cargo
#    rebuilds the workspace's crates (only them) instead of linking the stubs.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    find src $MEMBERS -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bin crowd \
 && install -m 0755 target/release/crowd /usr/local/bin/crowd

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

# The tools the built-in actions run: graphics_magick runs `gm`; process_pdfs runs qpdf,
# pdftotext and gm, which reads PDFs with Ghostscript and its URW fonts. curl is for
# docker-compose.yml's healthchecks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl graphicsmagick ghostscript \
      poppler-utils qpdf fonts-urw-base35 \
 && rm -rf /var/lib/apt/lists/*

# Non-root user; /var/lib/crowd is its home, the scratch dir and the
# filesystem asset store (CROWD_STORAGE=filesystem). No VOLUME here: scaled
# workers would each leave an anonymous volume behind; mount one if needed.
RUN groupadd --system --gid 10001 crowd \
 && useradd --system --uid 10001 --gid crowd \
      --home-dir /var/lib/crowd --shell /usr/sbin/nologin crowd \
 && install -d -o crowd -g crowd -m 0750 /var/lib/crowd

COPY --from=builder /usr/local/bin/crowd /usr/local/bin/crowd

USER 10001:10001
WORKDIR /var/lib/crowd
# The api; every process's metrics listener (CROWD_METRICS_PORT).
EXPOSE 9173 9464

ENTRYPOINT ["/usr/local/bin/crowd"]
