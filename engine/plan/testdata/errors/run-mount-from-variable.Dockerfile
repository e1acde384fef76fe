FROM busybox AS src
ARG SRC=src
FROM busybox
RUN --mount=from=$SRC,target=/s cat /s/x
