ARG SRC=builder
FROM busybox AS builder
RUN echo built > /artifact
FROM busybox
COPY --from=${SRC} /artifact /a1
