"""``plugin.yaml``: the plugin manifest, exactly the seed's template, validated field by field.

``validate_manifest`` lists every field-level problem at once, each with a dotted location
(``hooks[0].name``) and a reason. Checks that relate fields (entry points per type, a hook's
permission, self-dependency) run once every field is valid.

Config schemas: ``config_schema`` is a JSON Schema (Draft 2020-12) whose top level is an object.
The seed's legacy form ``required: true`` inside a property is accepted and rewritten into the
parent object's ``required`` list (the stored manifest holds the rewritten form). A property is a
secret when it carries ``secret: true``, ``writeOnly: true`` or ``format: password``; secrets are
write-only in every API and never appear in events. ``$ref`` must be local (``#...``).

Schedules: ``schedules`` lists ``{name, cron}``; each tick is delivered as a ``schedule.tick``
hook event to the target of the manifest's ``schedule.tick`` hook (its ``url`` or
``handler``), which is therefore required, as is the ``cron:schedule`` permission. Cron rules
and the minimum interval are in ``opscenter.contracts.schedules``; ``validate_manifest``
enforces the interval (the publishing rule), model validation alone checks the expression.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from opscenter.contracts.config_schema import (
    SECRET_MASK,
    check_config_schema,
    mask_config,
    normalize_config_schema,
    secret_fields,
)
from opscenter.contracts.errors import FieldError, ManifestError, field_errors
from opscenter.contracts.fields import Email, PositiveMoney, SemVerStr, Slug, Text
from opscenter.contracts.hook_events import (
    HOOK_EVENT_NAMES,
    hook_events_matching,
    is_hook_pattern,
)
from opscenter.contracts.hooks import SCHEDULE_NAME_PATTERN
from opscenter.contracts.permissions import Permission, covers
from opscenter.contracts.schedules import (
    MIN_INTERVAL_S,
    cron_problem,
    schedule_problems,
    too_frequent,
)
from opscenter.contracts.semver import normalize_range

__all__ = [
    "CATEGORY_LABELS",
    "SECRET_MASK",
    "Category",
    "Compatibility",
    "Dependencies",
    "EntryPoints",
    "HookSpec",
    "Manifest",
    "PluginType",
    "Pricing",
    "ScheduleSpec",
    "WebhookUrl",
    "mask_config",
    "normalize_config_schema",
    "secret_fields",
    "validate_manifest",
]

_CROSS_FIELD_KEY = "manifest_problems"
_MIN_INTERVAL_KEY = "schedule_min_interval_s"


class PluginType(StrEnum):
    """What a plugin ships: server code, UI code, both, a container, or a theme."""

    BACKEND = "backend"
    FRONTEND = "frontend"
    HYBRID = "hybrid"
    CONTAINER = "container"
    THEME = "theme"


class Category(StrEnum):
    """Marketplace categories (the seed names ai, monitoring, integration, analytics, 'etc.')."""

    AI = "ai"
    MONITORING = "monitoring"
    INTEGRATION = "integration"
    ANALYTICS = "analytics"
    SECURITY = "security"
    AUTOMATION = "automation"
    NOTIFICATION = "notification"
    REPORTING = "reporting"
    STORAGE = "storage"
    NETWORKING = "networking"
    DEVOPS = "devops"
    THEME = "theme"
    OTHER = "other"


CATEGORY_LABELS: dict[Category, str] = {
    Category.AI: "AI & Machine Learning",
    Category.MONITORING: "Monitoring",
    Category.INTEGRATION: "Integrations",
    Category.ANALYTICS: "Analytics",
    Category.SECURITY: "Security",
    Category.AUTOMATION: "Automation",
    Category.NOTIFICATION: "Notifications",
    Category.REPORTING: "Reporting",
    Category.STORAGE: "Storage",
    Category.NETWORKING: "Networking",
    Category.DEVOPS: "DevOps",
    Category.THEME: "Themes",
    Category.OTHER: "Other",
}


def _one_of(enum: type[StrEnum], what: str) -> BeforeValidator:
    known = ", ".join(e.value for e in enum)

    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in enum._value2member_map_:
            raise ValueError(f"unknown {what} {value!r} (known: {known})")
        return value

    return BeforeValidator(check)


def _hook_name(value: str) -> str:
    if not is_hook_pattern(value):
        raise ValueError(
            f"unknown hook event {value!r} (known: {', '.join(HOOK_EVENT_NAMES)}, "
            "or a family such as device.*)"
        )
    return value


def _tag(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", value):
        raise ValueError(f"tag {value!r} must be 1-32 lowercase letters, digits and hyphens")
    return value


def _relative_path(value: str) -> str:
    path = value.split(":", 1)[0]
    parts = path.split("/")
    if (
        not path
        or len(value) > 256
        or path.startswith("/")
        or "\\" in path
        or "\x00" in value
        or ".." in parts
    ):
        raise ValueError(f"{value!r} must be a relative path inside the package (no '..')")
    return value


_HANDLER_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)


def _handler(value: str) -> str:
    if not _HANDLER_RE.fullmatch(value):
        raise ValueError(f"handler {value!r} must look like 'package.module:function'")
    return value


def _webhook_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(value) > 2048:
        raise ValueError(f"url {value!r} must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ValueError("url may not carry credentials")
    return value


def _cron(value: str) -> str:
    problem = cron_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _range(value: str) -> str:
    normalize_range(value)
    return value


_NPM_NAME_RE = re.compile(r"(?:@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*", re.ASCII)


def _npm_name(value: str) -> str:
    if len(value) > 214 or not _NPM_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an npm package name")
    return value


def _pep508(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(f"{value!r} is not a PEP 508 requirement: {reason}") from exc
    return value


KnownPermission = Annotated[Permission, _one_of(Permission, "permission")]
HookName = Annotated[
    str,
    AfterValidator(_hook_name),
    WithJsonSchema(
        {
            "type": "string",
            "description": "a hook event (" + ", ".join(HOOK_EVENT_NAMES) + ") or every event "
            "of a family, such as device.*",
        }
    ),
]
RangeStr = Annotated[
    str,
    AfterValidator(_range),
    WithJsonSchema({"type": "string", "description": "npm-style semver range"}),
]
Tag = Annotated[str, AfterValidator(_tag)]
RelativePath = Annotated[str, AfterValidator(_relative_path)]
#: An absolute http(s) URL without credentials, at most 2048 characters.
WebhookUrl = Annotated[str, AfterValidator(_webhook_url)]
NpmName = Annotated[str, AfterValidator(_npm_name)]
Pep508 = Annotated[str, AfterValidator(_pep508)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntryPoints(_Strict):
    """Where the code starts: ``backend`` is ``path.py:Object``; ``frontend`` a source path."""

    backend: RelativePath | None = None
    frontend: RelativePath | None = None


class Dependencies(_Strict):
    """Python requirements (PEP 508), npm packages (``[{name: range}]``) and other plugins
    (``{slug: range}``), every range in npm syntax."""

    python: list[Pep508] = Field(default_factory=list)
    npm: list[dict[NpmName, RangeStr]] = Field(default_factory=list)
    plugins: dict[Slug, RangeStr] = Field(default_factory=dict)


class HookSpec(_Strict):
    """A subscription to a hook event, handled by exactly one of a Python ``handler``
    (``module:function``, run in the sandbox) or a webhook ``url``."""

    name: HookName
    handler: Annotated[str, AfterValidator(_handler)] | None = None
    url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if (self.handler is None) == (self.url is None):
            raise ValueError("a hook needs exactly one of 'handler' or 'url'")
        return self


class ScheduleSpec(_Strict):
    """A cron schedule (UTC): every tick is a ``schedule.tick`` delivery naming ``name``."""

    name: Annotated[str, Field(pattern=SCHEDULE_NAME_PATTERN)]
    cron: Annotated[
        str,
        AfterValidator(_cron),
        WithJsonSchema(
            {
                "type": "string",
                "maxLength": 200,
                "description": "cron expression, 5 fields (minute hour day-of-month month "
                "day-of-week), UTC",
            }
        ),
    ]


class Pricing(_Strict):
    """Exactly one of: ``{free: true}``; a subscription ``{free: false, monthly and/or yearly,
    trial_days?}``; or a one-time purchase ``{free: false, lifetime}``. Prices are positive."""

    free: bool
    monthly: PositiveMoney | None = None
    yearly: PositiveMoney | None = None
    trial_days: Annotated[int, Field(ge=0, le=365)] | None = None
    lifetime: PositiveMoney | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        subscription = self.monthly is not None or self.yearly is not None
        lifetime = self.lifetime is not None
        if self.free:
            priced = [
                k for k in ("monthly", "yearly", "trial_days", "lifetime") if getattr(self, k)
            ]
            if priced:
                raise ValueError(f"a free plugin has no prices (remove {', '.join(priced)})")
        elif subscription and lifetime:
            raise ValueError("choose a subscription (monthly/yearly) or lifetime, not both")
        elif not subscription and not lifetime:
            raise ValueError("a paid plugin needs monthly and/or yearly, or lifetime")
        elif lifetime and self.trial_days is not None:
            raise ValueError("trial_days applies only to subscriptions")
        return self

    @property
    def kind(self) -> Literal["free", "subscription", "lifetime"]:
        if self.free:
            return "free"
        return "lifetime" if self.lifetime is not None else "subscription"

    @classmethod
    def free_plan(cls) -> Pricing:
        return cls(free=True)


class Compatibility(_Strict):
    """The platform versions the plugin runs on, as an npm-style range."""

    platform: RangeStr


ConfigSchema = Annotated[dict[str, Any], AfterValidator(check_config_schema)]


class Manifest(_Strict):
    """A validated ``plugin.yaml``; ``id`` is the plugin's slug."""

    id: Slug
    name: Annotated[Text, Field(max_length=100)]
    version: SemVerStr
    description: Annotated[str, Field(max_length=4000)] = ""
    author: Annotated[Text, Field(max_length=200)]
    author_email: Email | None = None
    license: Annotated[str, Field(max_length=100)] | None = None
    type: Annotated[PluginType, _one_of(PluginType, "type")]
    category: Annotated[Category, _one_of(Category, "category")]
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    entry_points: EntryPoints = Field(default_factory=EntryPoints)
    dependencies: Dependencies = Field(default_factory=Dependencies)
    permissions: list[KnownPermission] = Field(default_factory=list)
    hooks: list[HookSpec] = Field(default_factory=list)
    schedules: Annotated[list[ScheduleSpec], Field(max_length=20)] = Field(default_factory=list)
    config_schema: ConfigSchema | None = None
    pricing: Pricing = Field(default_factory=Pricing.free_plan)
    compatibility: Compatibility | None = None

    @field_validator("tags", "permissions")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        dupes = sorted({str(v) for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        problems = _cross_field_problems(self)
        context = info.context if isinstance(info.context, dict) else {}
        floor = context.get(_MIN_INTERVAL_KEY)
        if floor is not None:
            crons = [s.cron for s in self.schedules]
            problems.extend(too_frequent(crons, float(floor)))
        sink = context.get(_CROSS_FIELD_KEY)
        if isinstance(sink, list):
            sink.extend(problems)
        elif problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self

    @property
    def secret_fields(self) -> set[str]:
        """Dotted paths of the config properties that are secrets."""
        return secret_fields(self.config_schema or {})

    def listing(self) -> dict[str, Any]:
        """The fields of the plugin's marketplace listing that its manifest sets (the catalog
        updates them from the latest version; the CLI registers a plugin with them)."""
        return {
            "name": self.name,
            "description": self.description,
            "type": self.type.value,
            "category": self.category.value,
            "tags": list(self.tags),
            "pricing": self.pricing.model_dump(mode="json", exclude_none=True),
        }

    @classmethod
    def example(cls) -> Manifest:
        """The seed's template, validated (its ``required: true`` is normalised)."""
        return validate_manifest(
            {
                "id": "my-awesome-plugin",
                "name": "My Awesome Plugin",
                "version": "1.0.0",
                "description": "Does awesome things",
                "author": "Your Name",
                "author_email": "you@example.com",
                "license": "MIT",
                "type": "hybrid",
                "category": "ai",
                "tags": ["machine-learning", "automation"],
                "entry_points": {
                    "backend": "backend/main.py:PluginApp",
                    "frontend": "frontend/src/index.tsx",
                },
                "dependencies": {"python": ["requests>=2.28.0"], "npm": [{"react": "^18.0.0"}]},
                "permissions": ["api:devices:read", "storage:write"],
                "hooks": [{"name": "device.created", "handler": "backend.hooks:on_device_created"}],
                "config_schema": {
                    "type": "object",
                    "properties": {"api_key": {"type": "string", "required": True}},
                },
                "pricing": {"free": True},
            }
        )


def _cross_field_problems(m: Manifest) -> list[FieldError]:
    problems: list[FieldError] = []
    needs = {
        PluginType.BACKEND: ("backend",),
        PluginType.FRONTEND: ("frontend",),
        PluginType.HYBRID: ("backend", "frontend"),
    }.get(m.type, ())
    for part in needs:
        if getattr(m.entry_points, part) is None:
            problems.append(
                FieldError(f"entry_points.{part}", f"is required for a {m.type.value} plugin")
            )
    seen: set[str] = set()
    for i, hook in enumerate(m.hooks):
        if hook.name in seen:
            problems.append(FieldError(f"hooks[{i}].name", f"{hook.name} is subscribed twice"))
        seen.add(hook.name)
        missing = sorted(
            {
                e.permission.value
                for e in hook_events_matching(hook.name)
                if e.permission is not None and not covers(m.permissions, e.permission)
            }
        )
        if missing:
            problems.append(
                FieldError(
                    f"hooks[{i}].name",
                    f"{hook.name} needs permission {', '.join(missing)}; add it to permissions",
                )
            )
        if hook.handler is not None and m.entry_points.backend is None:
            problems.append(
                FieldError(
                    f"hooks[{i}].handler",
                    "a Python handler needs entry_points.backend (or use 'url' for a webhook)",
                )
            )
    problems.extend(
        schedule_problems([s.name for s in m.schedules], m.permissions, [h.name for h in m.hooks])
    )
    if m.id in m.dependencies.plugins:
        problems.append(
            FieldError(f"dependencies.plugins.{m.id}", "a plugin cannot depend on itself")
        )
    return problems


def validate_manifest(data: object, *, min_interval_s: float = MIN_INTERVAL_S) -> Manifest:
    """A ``Manifest`` from parsed ``plugin.yaml`` data; raises ``ManifestError`` listing
    every problem. Schedules firing more often than ``min_interval_s`` are refused (the
    documented minimum; only test instances pass less)."""
    if not isinstance(data, dict):
        raise ManifestError([FieldError("plugin.yaml", "must be a mapping of fields")])
    problems: list[FieldError] = []
    context = {_CROSS_FIELD_KEY: problems, _MIN_INTERVAL_KEY: min_interval_s}
    try:
        manifest = Manifest.model_validate(data, context=context)
    except ValidationError as exc:
        raise ManifestError(field_errors(exc, prefix="")) from exc
    if problems:
        raise ManifestError(problems)
    return manifest
