# signoff: API, UI and workers. Configure it with SIGNOFF_* environment variables only
# (docs/settings.md); the image holds no configuration file and no secret.
#
#   docker build -t signoff .
#   docker run --rm -v signoff-data:/data signoff signoff db upgrade
#   docker run -d -p 8000:8000 -v signoff-data:/data signoff
#
# compose.yaml runs it against PostgreSQL with separate worker containers.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
COPY deploy/docker/install.sh ./deploy/docker/install.sh
RUN sh deploy/docker/install.sh /opt/signoff /build

FROM python:3.11-slim-bookworm
# The build stage's virtualenv holds signoff and its dependencies; no compiler, no pip.
COPY --from=build /opt/signoff /opt/signoff
COPY deploy/docker/healthcheck.py /opt/signoff/healthcheck.py
RUN groupadd --system --gid 10001 signoff \
    && useradd --system --uid 10001 --gid signoff --home-dir /data --no-create-home signoff \
    && mkdir /data \
    && chown signoff:signoff /data
# Production mode: a weak SIGNOFF_SECRET_KEY is refused. Without one, signoff makes a random
# key on first start and keeps it in SIGNOFF_DATA_DIR (the /data volume), so a restart keeps
# sessions and webhook signatures valid; containers that share the volume share the key.
ENV PATH=/opt/signoff/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIGNOFF_ENVIRONMENT=production \
    SIGNOFF_HOST=0.0.0.0 \
    SIGNOFF_PORT=8000 \
    SIGNOFF_DATA_DIR=/data \
    SIGNOFF_DATABASE_URL=sqlite:////data/signoff.db
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/signoff/healthcheck.py"]
CMD ["signoff", "serve"]
