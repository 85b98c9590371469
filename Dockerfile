# service-courier: one image for every process (docs/deployment.md).
#   web (default):  gunicorn --config gunicorn.conf.py
#   consumer:       python manage.py consume_orders
#   one-shots:      python manage.py migrate | reconcile_deliveries
# Targets: `runtime` (the default, production: nothing of sandbox/ and its libraries) and `sandbox` (the same
# plus the simulator, demo and bench, for compose's sandbox profile).
# Needs BuildKit (the default builder of Docker 23+ and of `docker compose`).

ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

# --- build: the locked wheels, each checked against its hash; the SBOM -------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Every dependency, transitive ones included, is pinned with its hashes in the .lock files (make lock): pip refuses
# a file whose hash differs. Binary wheels only: nothing is compiled, so no compiler is needed.
COPY requirements.lock requirements-sandbox.lock requirements-build.lock /wheels/
RUN pip download --require-hashes --no-deps --only-binary=:all: --dest /wheels \
    --requirement /wheels/requirements-sandbox.lock

# The runtime image's SBOM (CycloneDX JSON) from its lock, by a tool installed under its own lock, in a venv that
# stays in this stage; the image carries the SBOM at /app/sbom.cdx.json.
RUN python -m venv /sbom-tool \
    && /sbom-tool/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        --requirement /wheels/requirements-build.lock \
    && /sbom-tool/bin/cyclonedx-py requirements --output-format JSON --output-reproducible \
        --output-file /sbom.cdx.json /wheels/requirements.lock

# --- app: the production wheels, the code, the collected static files; no compilers --------------------------------
FROM ${PYTHON_IMAGE} AS app

# LOCAL_ENV_FILE empty: a container reads no .env.local (a developer's DEBUG=true), even one mounted into /app.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=courier_project.settings \
    LOCAL_ENV_FILE= \
    PORT=8000

# tini as PID 1: it hands SIGTERM straight to the Python process (gunicorn, consume_orders) and reaps zombies.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# Installed from the build stage's wheels only (--no-index: nothing is fetched or compiled here); the wheels are
# bind-mounted, so they never become a layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels --require-hashes --no-deps --requirement /wheels/requirements.lock

RUN groupadd --system --gid 10001 courier \
    && useradd --system --uid 10001 --gid courier --home-dir /app --no-create-home --shell /usr/sbin/nologin courier

WORKDIR /app
# What production runs, named one by one: sandbox/ stays out of this stage. The code belongs to root and is
# only readable by the service user.
COPY manage.py gunicorn.conf.py /app/
COPY courier_project /app/courier_project
COPY couriers /app/couriers
COPY gateway /app/gateway
COPY tokens /app/tokens
COPY --from=build /sbom.cdx.json /app/sbom.cdx.json

# Static files are collected at build time, with a throwaway key that exists only in this step (never in ENV);
# the app's settings need a strong one when DEBUG is off. Nothing here touches a database. chmod: a checkout made
# under a strict umask (0077) is still readable by the service user.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q /app \
    && chmod -R a+rX /app

# --- sandbox: the app plus the simulator, demo and bench (compose's sandbox profile; never production) ------------
FROM app AS sandbox

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels --require-hashes --no-deps \
        --requirement /wheels/requirements-sandbox.lock
COPY sandbox /app/sandbox
RUN python -m compileall -q /app/sandbox && chmod -R a+rX /app/sandbox

USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "sandbox.simulator"]

# --- runtime: production, the default target (last) ----------------------------------------------------------------
FROM app AS runtime

USER 10001:10001
EXPOSE 8000

# Web only (the consumer and the one-shots override or disable it in docker-compose.yml). urllib fails on any
# answer other than 2xx/3xx, and /healthz is exempt from the SSL redirect and answers whatever the Host.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "--config", "/app/gunicorn.conf.py"]
