# The two commands a new machine needs: `make up` (the whole suite, for people) and `make test`
# (every test, on an instance of its own so it never fights a running `make up`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
UV := .local/tools/bin/uv
STACK := deploy/local/stack.sh
PYTEST_ARGS ?=

.PHONY: up down status test lint contracts-check deploy-check bootstrap bench token js-sdk web web-test

bootstrap:
	@scripts/bootstrap.sh

up: bootstrap web
	@$(UV) run python deploy/local/suite.py up

down: bootstrap
	@$(UV) run python deploy/local/suite.py down

status: bootstrap
	@$(UV) run python deploy/local/suite.py status

lint: bootstrap
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy libs services sdk/python/src
	$(UV) run lint-imports

contracts-check: bootstrap
	$(UV) run python -m opscenter.contracts.schemas check
	$(UV) run python scripts/openapi.py check

# The deployment checks alone (docker-compose.yml, deploy/helm, their agreement with the local
# suite); `make test` runs them too, with every other test. bootstrap builds helm and compose-go's
# validator into .local/tools/bin once.
deploy-check: bootstrap
	$(UV) run pytest tests/deploy -q

# The JS SDK (sdk/js): `npm ci` only when node_modules is missing or older than the lockfile
# (npm ci writes node_modules/.package-lock.json), then the generated types' drift check,
# the build (tsc to dist/), the type-level tests and Vitest.
sdk/js/node_modules/.package-lock.json: sdk/js/package-lock.json sdk/js/package.json
	npm ci --prefix sdk/js --no-audit --no-fund
	@touch $@

js-sdk: bootstrap sdk/js/node_modules/.package-lock.json
	npm run ci --prefix sdk/js

# The web console (web/): `npm ci` when the lockfile changed, then the build (API types are
# generated from docs/openapi first, so an API change the console does not match fails here).
WEB_MODULES := web/node_modules/.package-lock.json
$(WEB_MODULES): web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web: bootstrap $(WEB_MODULES)
	cd web && npm run build

web-test: web
	cd web && npx vitest run

# A development token for trying the API: `make token ROLES=tenant_admin TENANT=t1`
# (a developer also needs PUBLISHER=<publisher id>).
ROLES ?= tenant_admin
TENANT ?= t1
PUBLISHER ?=
token: bootstrap
	@$(UV) run python -m opscenter.servicekit.devtoken --roles $(ROLES) --tenant $(TENANT) \
		$(if $(PUBLISHER),--publisher $(PUBLISHER))

# The suite at work on the dev instance (scripts/demo): publishes the example plugins, installs
# them in two tenants, emits platform events and prints what happened, read back through the
# gateway. It needs `make up` first (it says so when the suite is not up); it can run again.
.PHONY: demo
demo: bootstrap
	@eval "$$($(STACK) env dev)" && $(UV) run python -m scripts.demo --instance dev

# The end-to-end tests start the suite's services on the test instance; they are stopped
# afterwards so the next run tests the code as it is then, not as it was.
test: bootstrap lint contracts-check js-sdk web-test
	@$(STACK) up test
	@eval "$$($(STACK) env test)" && $(UV) run python -m opscenter.servicekit.topics \
		&& { status=0; $(UV) run pytest $(PYTEST_ARGS) || status=$$?; \
		     $(UV) run python deploy/local/suite.py down --services-only --instance test; \
		     exit $$status; }

bench: bootstrap
	@$(STACK) up dev
	@eval "$$($(STACK) env dev)" && $(UV) run python bench/outbox.py
