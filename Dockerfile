# syntax=docker/dockerfile:1
# The suite's images, one build target per kind (docs/adr/0022-deployment-images-compose-helm.md):
#
#   docker build --target service --build-arg SERVICE=catalog -t opscenter/catalog .
#     (catalog, installer, analytics, reviews: one image runs the API, worker and relay)
#   docker build --target hooks --build-arg SERVICE=hooks -t opscenter/hooks .
#     (the service image plus bubblewrap, setpriv and Debian's python3-seccomp for the sandbox)
#   docker build --target gateway -t opscenter/gateway .
#     (Debian's nginx, as locally, with deploy/local/nginx.conf.template and the web console)
#
# Python packages come from the workspace lock only (`uv sync --frozen`); a lock that does not
# match the pyproject files fails the build instead of resolving anew.

# Python 3.11: the version the test command runs everything on (.venv).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG NODE_IMAGE=node:22-bookworm-slim

# --- Python: one virtualenv per service, from uv.lock ------------------------------------------
FROM ${PYTHON_IMAGE} AS python-build
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<catalog|installer|hooks|analytics|reviews>"; exit 1; }
# The same uv as scripts/bootstrap.sh pins.
RUN pip install --no-cache-dir --disable-pip-version-check "uv==0.13.9"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Every workspace member's sources: uv reads them all to check the lock. The service's own
# package and its workspace dependencies are installed editable, so services/<name>/alembic.ini
# and migrations/ stay where servicekit's migrations helper looks for them (/app/services/...).
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
COPY sdk/python sdk/python
RUN uv sync --frozen --no-dev --package "opscenter-${SERVICE}"
# The editable sources' bytecode too: the runtime's filesystem is read-only, so a process could
# not cache it and would compile every module at each start.
RUN .venv/bin/python -m compileall -q libs services sdk/python/src

FROM ${PYTHON_IMAGE} AS service
ARG SERVICE
# A fixed non-root uid (no login, no home): the chart's runAsUser and compose's user name it.
# /var/lib/opscenter holds what a service keeps on disk (catalog's artifacts, installer's and
# hooks' unpacked packages, hooks' storage folders); a volume mounted there starts owned by 10001.
RUN groupadd --system --gid 10001 opscenter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin opscenter \
 && install -d -o 10001 -g 10001 /var/lib/opscenter /var/lib/opscenter/artifacts \
      /var/lib/opscenter/installs /var/lib/opscenter/hooks-packages /var/lib/opscenter/hooks-storage
WORKDIR /app
COPY --from=python-build /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
# No default command: docker-compose.yml and deploy/helm set each process's (API, worker, relay,
# dispatcher, migrations), the same ones deploy/local/suite.py runs.

# --- hooks: the sandbox's tools (ADR 0015) -----------------------------------------------------
FROM service AS hooks
USER root
# bubblewrap (bwrap), Debian's interpreter with python3-seccomp (the sandbox's Python) and
# util-linux's setpriv (in the base image already). Only the dispatcher uses them, as root with
# the capabilities listed in docs/operator-guide.md; the API, worker and relay run as 10001.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bubblewrap python3-seccomp libseccomp2 \
 && rm -rf /var/lib/apt/lists/* \
 && command -v setpriv
USER 10001:10001

# --- gateway: nginx with the local suite's configuration and the web console ---------------------
FROM ${NODE_IMAGE} AS web-build
WORKDIR /src
# The console's API types are generated from docs/openapi at build time (web/scripts/gen-api.mjs).
COPY docs/openapi docs/openapi
COPY web/package.json web/package-lock.json web/
RUN cd web && npm ci --no-audit --no-fund
COPY web web
RUN cd web && npm run build

FROM ${DEBIAN_IMAGE} AS gateway
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
 && groupadd --system --gid 10001 opscenter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin opscenter
COPY deploy/local/nginx.conf.template deploy/local/nginx-conf.sh /usr/share/opscenter/gateway/
COPY deploy/docker/gateway-entrypoint.sh /usr/share/opscenter/gateway/entrypoint.sh
COPY --from=web-build /src/web/dist /usr/share/opscenter/web
# Everything nginx writes (pid, temp files, the rendered nginx.conf) goes under GATEWAY_ROOT.
ENV GATEWAY_ROOT=/tmp/gateway GATEWAY_LISTEN=0.0.0.0:8080 GATEWAY_WEB_ROOT=/usr/share/opscenter/web
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/share/opscenter/gateway/entrypoint.sh"]
