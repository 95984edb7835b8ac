# Stand-in for the MLflow server image the mlflow_server role runs (the official
# ghcr.io/mlflow/mlflow:v<version> with psycopg2 added), built from PyPI where no registry can be
# reached. Same contract the stack relies on: `mlflow` on PATH, python for the health check,
# psycopg2 for the Postgres backend store, Flask-WTF for the basic-auth app. It runs Debian 13's Python 3.13.
ARG BASE=docker.io/library/debian:trixie
FROM ${BASE}
ARG MLFLOW_VERSION
ARG PSYCOPG2_VERSION=2.9.11
ARG FLASK_WTF_VERSION=1.3.0
ARG PIP_INDEX_URL=
ENV DEBIAN_FRONTEND=noninteractive PATH=/opt/mlflow/venv/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
COPY extra-ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && update-ca-certificates >/dev/null \
 && python3 -m venv /opt/mlflow/venv \
 && if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; fi \
 && pip install --no-cache-dir "mlflow==${MLFLOW_VERSION}" "psycopg2-binary==${PSYCOPG2_VERSION}" \
      "Flask-WTF==${FLASK_WTF_VERSION}" \
 && pip check \
 && python -c "import mlflow.server, mlflow.server.auth, flask_wtf, psycopg2, sqlalchemy" \
 && rm -f /usr/local/share/ca-certificates/*.crt && update-ca-certificates --fresh >/dev/null
WORKDIR /opt/mlflow
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
