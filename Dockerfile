# litwatch in a container: `litwatch serve` runs the watches on the config's [schedule] (and, with
# [web], serves the web companion on [web] listen: put a TLS proxy in front, see compose.yaml).
# Config, store and outbox live in the /data volume; the config is /data/litwatch.toml.
#   docker build -t litwatch .
#   docker run -d --name litwatch -v litwatch-data:/data litwatch
FROM python:3.11-slim

# Time zone data: [schedule] timezone, and NCBI's off-peak hours (US Eastern).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY jobs/ jobs/
COPY watchers/ watchers/
COPY notifications/ notifications/
RUN pip install --no-cache-dir ".[web]" \
    && useradd --system --user-group --uid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin litwatch \
    && mkdir -p /data \
    && chown litwatch:litwatch /data \
    && chmod 700 /data

ENV LITWATCH_CONFIG=/data/litwatch.toml \
    PYTHONUNBUFFERED=1
USER litwatch
WORKDIR /data
VOLUME ["/data"]

# SIGTERM: no new run starts; a run in progress gets `serve --grace` (60 s) to finish.
# Give `docker stop` more than that: docker stop --time 90 (compose: stop_grace_period).
STOPSIGNAL SIGTERM
# Unhealthy when the last run failed or no run succeeded for two schedule periods.
HEALTHCHECK --interval=10m --timeout=60s --start-period=30m --retries=1 \
    CMD ["litwatch", "status", "--check"]
CMD ["litwatch", "serve"]
