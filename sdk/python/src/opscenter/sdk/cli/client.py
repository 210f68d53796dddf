"""The gateway client: ``/api/v1`` under the login's URL, the bearer token, and every error
answer turned into a ``Failure`` carrying its problem+json."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from opscenter.sdk.cli.output import Failure
from opscenter.sdk.cli.settings import load_login

__all__ = ["Api", "api"]


class Api:
    def __init__(self, need_token: bool = True) -> None:
        login = load_login()
        if need_token and not login.token:
            raise Failure(
                {
                    "type": "not-logged-in",
                    "title": "Not logged in",
                    "detail": "No token: run `ops-center login --token ...` or set "
                    "OPS_CENTER_TOKEN",
                },
                code=2,
            )
        headers = {"Authorization": f"Bearer {login.token}"} if login.token else {}
        self.base = login.url
        self.http = httpx.Client(base_url=f"{login.url}/api/v1", headers=headers, timeout=60)

    def call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = False,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if idempotent:
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        try:
            r = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Failure(
                {
                    "type": "unreachable",
                    "title": "Gateway unreachable",
                    "detail": f"{self.base}: {exc}",
                }
            ) from exc
        if r.status_code >= 400:
            raise Failure(_problem(r))
        if not r.content:
            return None
        return r.json()

    def plugin_id(self, ref: str) -> str:
        """The plugin's UUID for ``ref`` (a UUID or a slug): the hooks and analytics paths take
        only the UUID, the marketplace resolves a slug."""
        try:
            return str(uuid.UUID(ref))
        except ValueError:
            pass
        detail = self.call("GET", f"/plugins/marketplace/{ref}")
        return str(detail["id"])


def _problem(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("detail" in body or "title" in body):
        return {"status": r.status_code, **body}
    return {
        "type": "http-error",
        "status": r.status_code,
        "title": r.reason_phrase,
        "detail": f"{r.request.method} {r.request.url.path} answered {r.status_code}: "
        f"{r.text[:300]}",
    }


def api(need_token: bool = True) -> Api:
    return Api(need_token)
