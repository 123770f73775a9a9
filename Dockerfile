# botsvc container image.
#
#   docker build -t botsvc .
#   docker run --rm botsvc demo                      # offline poll of the bundled sample feeds
#   docker run -d -v botsvc-data:/data -p 3000:3000 botsvc   # `botsvc run`, database in /data
#   docker compose up -d                             # the same with compose.yaml and .env
#   docker run --rm -v "$PWD/feeds.toml:/etc/botsvc/feeds.toml:ro" botsvc check-config
#
# Stages: `builder` turns the pinned requirements and the project into wheels in /wheels;
# `venv` installs only those wheels (no index) into /opt/venv; `runtime` gets that venv, the
# shipped config and the sample feeds, and runs as the unprivileged user `botsvc`.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The official image already has Python with venv support in /usr/local, so this is a no-op
# there; a plain Debian base gets Debian's python3 and python3-venv instead.
# hadolint ignore=DL3008
RUN if python3 -m venv /tmp/venv-probe >/dev/null 2>&1; then \
        rm -rf /tmp/venv-probe; \
    else \
        rm -rf /tmp/venv-probe \
        && apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version'


FROM base AS builder
RUN python3 -m venv /opt/build
WORKDIR /src
# Dependencies first, so editing the code does not rebuild them.
COPY requirements.txt ./
# --no-deps: exactly the pinned set; a dependency missing from requirements.txt then fails the
# runtime install below instead of being fetched unpinned here.
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels -r requirements.txt
COPY pyproject.toml README.md ./
COPY migrations/ migrations/
COPY adapters/ adapters/
COPY botsvc/ botsvc/
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels .


# The venv is made in its own stage and copied whole into the runtime stage: the wheels never
# become an image layer, and a rebuilt wheel always invalidates the copy (a RUN that only
# bind-mounts /wheels from the builder is wrongly served from cache by some builders).
FROM base AS venv
COPY --from=builder /wheels /wheels
# Only the project and its runtime dependencies are installed; every one of them must be a
# wheel built from requirements.txt (test-only pins such as pytest stay out of the image).
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links=/wheels botsvc \
    && /opt/venv/bin/botsvc --version


FROM base AS runtime
RUN groupadd --system --gid 10001 botsvc \
    && useradd --system --uid 10001 --gid botsvc --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin botsvc
COPY --from=venv /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    BOTSVC_DB=/data/botsvc.db \
    BOTSVC_CONFIG=/etc/botsvc/feeds.toml \
    BOTSVC_EXAMPLES=/app/examples \
    BOTSVC_HTTP_PORT=3000
COPY feeds.toml /etc/botsvc/feeds.toml
COPY examples/ /app/examples/
# /app is writable for `botsvc demo` (it makes .demo/ in the working directory); /data holds the
# database and is owned by the service user so a fresh named volume inherits that ownership.
RUN mkdir -p /data && chown botsvc:botsvc /data /app
WORKDIR /app
# The `botsvc` user, by number so that runtimes can verify it is not root (runAsNonRoot).
USER 10001:10001
VOLUME /data
# Slack's request URL (/slack/events), /healthz and /metrics share this port.
EXPOSE 3000
# botsvc finishes the running poll (at most 6 s), then exits 0: well inside docker stop's 10 s.
STOPSIGNAL SIGTERM
# /healthz: database answers, scheduler runs, a poll succeeded recently. No curl in the image,
# so the bot's own client asks.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 CMD ["botsvc", "healthcheck"]
ENTRYPOINT ["botsvc"]
CMD ["run"]
