FROM busybox
RUN true
NOPE x
