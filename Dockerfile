# An Airbyte source image of the CircleCI connector: the connector-harness
# CLI (wasmtime host with the CircleCI component built in) speaking the
# Airbyte protocol. Airbyte runs `IMAGE spec`, `IMAGE check --config F`,
# `IMAGE discover --config F` and `IMAGE read --config F --catalog F
# [--state F]`; the ENTRYPOINT turns those into `connector-harness airbyte …`.
#
#   docker build -t source-circleci-wasm:0.3.0 .
#
# Built with Debian's own Rust toolchain (rustc-web, which also builds the
# wasm32 component from source), so nothing is downloaded but Debian
# packages and crates.

FROM debian:bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates build-essential pkg-config \
        rustc-web cargo-web rust-web-src lld-22 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/llvm-22/bin:/usr/bin:$PATH
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p host-harness --bin connector-harness \
    && install -m 0755 target/release/connector-harness /usr/local/bin/connector-harness

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/connector-harness /usr/local/bin/connector-harness
# The compiled component is cached per user in a private directory; /tmp
# is writable whichever user the platform runs the container as.
ENV CONNECTOR_HARNESS_CACHE_DIR=/tmp/connector-harness-cache
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/connector-harness airbyte"
ENTRYPOINT ["/usr/local/bin/connector-harness", "airbyte"]
LABEL io.airbyte.name=source-circleci-wasm
LABEL io.airbyte.version=0.3.0
