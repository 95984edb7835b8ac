# Stand-in for the official postgres image, built from Debian's postgresql package where no
# registry can be reached. It honours the parts of the official image's contract the stack uses:
# POSTGRES_USER/PASSWORD/DB, PGDATA, /docker-entrypoint-initdb.d, pg_isready and pg_dump on PATH.
ARG BASE=docker.io/library/debian:trixie
FROM ${BASE}
ARG PG_MAJOR=17
ENV DEBIAN_FRONTEND=noninteractive PG_MAJOR=${PG_MAJOR} \
    PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-${PG_MAJOR} gosu \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql "$PGDATA" \
 && chown -R postgres:postgres /var/run/postgresql "$PGDATA"
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
