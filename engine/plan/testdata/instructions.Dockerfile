# escape=`
FROM busybox AS base
LABEL a=1 "b c"="d e"
MAINTAINER someone <a@b>
EXPOSE 80 8000-8002/udp $NOPE
ENV P=9000
EXPOSE ${P}/tcp
USER 1000:1000
VOLUME ["/v1", "/v2"]
VOLUME /data /more
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=5s --start-interval=2s CMD true
ONBUILD RUN echo later
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
CMD echo cmd
ENTRYPOINT ["/bin/echo"]
RUN --mount=type=cache,target=/c,id=x --network=none echo `
  $P
RUN <<EOT
#!/bin/sh
echo script
EOT
RUN <<EOT
echo not a script
EOT
COPY --chown=1:2 --chmod=0640 --exclude=*.md --parents a/*.txt /dst/
COPY --link --chown=5 <<inline.txt /in/
hello $P
inline.txt
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://127.0.0.1/f /f
ADD --unpack=false a.tar.gz /t/

FROM base
HEALTHCHECK NONE
ENTRYPOINT echo ep
WORKDIR /
