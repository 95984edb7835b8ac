# Stand-in for prefecthq/prefect:<version>-python3.12, built from PyPI where no registry can be
# reached. Same contract the stack relies on: `prefect` on PATH, python for the health check,
# tini as PID 1. It runs Debian 13's Python 3.13 rather than 3.12.
ARG BASE=docker.io/library/debian:trixie
FROM ${BASE}
ARG PREFECT_VERSION
# Requirements pinned beside Prefect, for an older release whose open-ended dependencies have
# moved on since (as its official image was built back then), e.g. "fastapi<0.155".
ARG PINS=
ARG PIP_INDEX_URL=
ENV DEBIAN_FRONTEND=noninteractive PATH=/opt/prefect/venv/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
COPY extra-ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv tini ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && update-ca-certificates >/dev/null \
 && python3 -m venv /opt/prefect/venv \
 && if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; fi \
 && pip install --no-cache-dir "prefect==${PREFECT_VERSION}" ${PINS:+"$PINS"} \
 && rm -f /usr/local/share/ca-certificates/*.crt && update-ca-certificates --fresh >/dev/null
WORKDIR /opt/prefect
EXPOSE 4200
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["prefect", "server", "start", "--host", "0.0.0.0"]
