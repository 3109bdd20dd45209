# gtm's container image, in the style of CoreDNS's own: it copies a binary
# built beforehand (static, -trimpath) rather than compiling, so it builds
# offline. Build it with scripts/image.sh, which builds the binary, stages
# this context and passes VERSION and REVISION.
#
# BASE is scratch by default (nothing to pull); a distroless base works too:
#   scripts/image.sh --build-arg BASE=gcr.io/distroless/static-debian12:nonroot
ARG BASE=scratch
FROM ${BASE}

ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="gtm" \
      org.opencontainers.image.description="CoreDNS with gtm, a Global Traffic Manager plugin" \
      org.opencontainers.image.source="https://github.com/gtm-project/gtm" \
      org.opencontainers.image.url="https://github.com/gtm-project/gtm" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# passwd and group with the non-root user nonroot (65532, as distroless's),
# the CA bundle HTTPS monitors verify against, and the default Corefile.
COPY etc/ /etc/
# The binary carries the file capability cap_net_bind_service=+ep, so that
# the non-root user binds port 53 with NET_BIND_SERVICE and nothing else.
COPY coredns /coredns
# Persistent state: the control API's store. Mount a volume here. /var/lib
# is root's; only the state directory is the user's.
COPY var/ /var/
COPY --chown=65532:65532 state/ /var/lib/gtm/
VOLUME ["/var/lib/gtm"]
WORKDIR /var/lib/gtm

USER 65532:65532
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
CMD ["-conf", "/etc/coredns/Corefile"]
