# build-arg: GIVEN=from-cli
# build-arg: HTTP_PROXY=http://proxy:3128
# build-arg: OVERRIDE=cli
# target: final
ARG GLOBAL=global-default
ARG GIVEN=global-given-default
ARG BASE=busybox
ARG COMPUTED=${GLOBAL}-x
FROM ${BASE} AS first
# A global ARG is not seen until the stage declares it.
RUN echo "[$GLOBAL]"
ARG GLOBAL
# A bare ARG takes the global value; a --build-arg wins over any default.
ARG GIVEN=stage-default COMPUTED
RUN echo "$GLOBAL $GIVEN $COMPUTED"
# Defaults expand left to right on one line.
ARG A=1 B=$A-2
# ENV wins over ARG for what RUN sees, and is kept in the config.
ENV A=env-a
ARG OVERRIDE=stage
RUN echo "$A $B $OVERRIDE"
# Platform ARGs must be declared too.
RUN echo "[$TARGETARCH]"
ARG TARGETARCH TARGETPLATFORM BUILDPLATFORM
RUN echo "$TARGETARCH $TARGETPLATFORM $BUILDPLATFORM"

FROM first AS second
# ARGs end with their stage; ENV is inherited.
RUN echo "[$GIVEN] $A"

FROM scratch AS final
ARG HTTP_PROXY
COPY --from=second /x /y
ARG NOVALUE
WORKDIR $NOVALUE/rel
WORKDIR sub
