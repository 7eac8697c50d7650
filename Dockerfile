# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# cmake is only a fallback for aws-lc-sys (rustls' crypto backend); its default
# cc-based build needs nothing beyond the gcc already in this image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build
# The whole context: workspace members (api dispatcher worker shared), src/,
# tests/, and schema/ (migrations may be embedded at compile time).
COPY . .

# BuildKit cache mounts keep the registry and target dir across builds. The
# target dir is a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --release --locked --bin crowd \
 && install -m 0755 target/release/crowd /usr/local/bin/crowd

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

# The tools the built-in actions run: graphics_magick runs `gm`; process_pdfs runs qpdf,
# pdftotext and gm, which reads PDFs with Ghostscript and its URW fonts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates graphicsmagick ghostscript \
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
EXPOSE 9173

ENTRYPOINT ["/usr/local/bin/crowd"]
