FROM busybox
HEALTHCHECK --interval=nope CMD true
