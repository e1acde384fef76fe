# The executor image for users with internet access:
#   docker build -t kaniko-build/executor .            (release)
#   docker build --target debug -t kaniko-build/executor:debug .
#   docker build --target warmer -t kaniko-build/warmer .
# Offline, `make image` builds the same image with the executor itself.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/executor ./cmd/executor \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/warmer ./cmd/warmer

FROM debian:bookworm-slim AS certs
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates busybox-static \
 && mkdir -p /out/busybox && cp /bin/busybox /out/busybox/ \
 && for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox /out/busybox/$a; done \
 && mkdir -p /out/bin && ln -s /busybox/sh /out/bin/sh

FROM scratch AS release
COPY --from=build /out/executor /kaniko/executor
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /kaniko/ssl/certs/ca-certificates.crt
ENV HOME=/root \
    USER=root \
    PATH=/usr/local/bin:/kaniko \
    SSL_CERT_DIR=/kaniko/ssl/certs \
    DOCKER_CONFIG=/kaniko/.docker/
WORKDIR /workspace
ENTRYPOINT ["/kaniko/executor"]

# /busybox is a volume, so a build in the container's / (a Jenkins agent
# runs several) leaves the shell alone.
FROM release AS debug
COPY --from=build /out/warmer /kaniko/warmer
COPY --from=certs /out/busybox/ /busybox/
COPY --from=certs /out/bin/ /bin/
VOLUME /busybox
ENV PATH=/usr/local/bin:/kaniko:/busybox

FROM scratch AS warmer
COPY --from=build /out/warmer /kaniko/warmer
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /kaniko/ssl/certs/ca-certificates.crt
ENV HOME=/root \
    USER=root \
    PATH=/usr/local/bin:/kaniko \
    SSL_CERT_DIR=/kaniko/ssl/certs \
    DOCKER_CONFIG=/kaniko/.docker/
ENTRYPOINT ["/kaniko/warmer"]
