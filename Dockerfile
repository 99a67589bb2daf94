# syntax=docker/dockerfile:1
#
# One image for all five services. Each Kubernetes Deployment picks its service
# with the arguments:  ["serve", "gateway" | "users" | "payments-python" |
#                                "payments-java" | "reviews"]
#
#   docker build -t bookstore:latest .
#   docker run --rm -p 8080:8080 bookstore:latest serve gateway

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build stage
FROM ${SWIFT_IMAGE} AS build

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update \
    && apt-get install -y --no-install-recommends libmongoc-dev librabbitmq-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# SwiftPM validates every target's folder, so the whole package (minus what
# .dockerignore drops) is copied. .build lives in a cache mount, which keeps
# fetched dependencies and object files between builds; the binary is copied
# out of it. The Swift runtime is linked statically, so the runtime stage needs
# only the C libraries installed below.
COPY . .

RUN --mount=type=cache,target=/src/.build \
    swift build -c release --product bookstore --static-swift-stdlib \
    && mkdir -p /out \
    && cp "$(swift build -c release --show-bin-path)/bookstore" /out/bookstore \
    && strip /out/bookstore

# -------------------------------------------------------------- runtime stage
FROM ${RUNTIME_IMAGE} AS runtime

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        libmongoc-1.0-0 libbson-1.0-0 librabbitmq4 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bookstore \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin bookstore

COPY --from=build --chown=root:root --chmod=0755 /out/bookstore /app/bookstore

# Fail the build (not the pod) if a shared library is missing.
RUN if ldd /app/bookstore | grep -q 'not found'; then ldd /app/bookstore; exit 1; fi

WORKDIR /app
USER 10001:10001
ENV TMPDIR=/tmp
EXPOSE 8080 5000 5002
ENTRYPOINT ["/app/bookstore"]
CMD ["serve", "gateway"]
