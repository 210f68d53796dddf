"""Loading untrusted YAML (``plugin.yaml``) without surprises.

What is refused, each with a ``ManifestError`` whose location is the document name:
input above ``max_bytes`` (checked before parsing); any anchor or alias (so no "billion laughs"
expansion, no merge keys); any tag outside the JSON-compatible core (``!!python/...``,
``!!binary``, ``!!set``, custom ``!tags``); keys that are not strings; duplicate keys; nesting
deeper than ``MAX_DEPTH``; more than one document; a string or key holding NUL or a lone
surrogate (YAML's ``"\\0"`` and ``"\\ud800"`` escapes make them; Postgres cannot store them), named
by its path such as ``plugin.yaml.description``. Dates are kept as strings, so the result
is always plain JSON data (dict, list, str, int, float, bool, None).
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from opscenter.contracts.errors import FieldError, ManifestError
from opscenter.contracts.manifest import Manifest, validate_manifest
from opscenter.contracts.text import find_bad_text

__all__ = ["DEFAULT_MAX_BYTES", "MAX_DEPTH", "load_manifest", "load_yaml"]

DEFAULT_MAX_BYTES = 256 * 1024
MAX_DEPTH = 64

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))


class _Refused(Exception):
    def __init__(self, reason: str, mark: Any) -> None:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        super().__init__(reason + where)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, non-core tags, non-string and duplicate keys,
    and deep nesting."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _CORE + "timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused("aliases (*name) are not allowed", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused("anchors (&name) are not allowed", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nesting is deeper than {MAX_DEPTH} levels", event.start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and node.tag not in _ALLOWED_TAGS:
            if node.tag == _CORE + "merge":
                raise _Refused("merge keys (<<) are not allowed", node.start_mark)
            tag = node.tag.replace(_CORE, "!!", 1)
            raise _Refused(f"tag {tag} is not allowed", node.start_mark)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _value in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != _CORE + "str":
                raise _Refused("mapping keys must be strings", key_node.start_mark)
            if key_node.value in seen:
                raise _Refused(f"key {key_node.value!r} appears twice", key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    _CORE + "map",
    lambda loader, node: loader.construct_mapping(node, deep=True),  # type: ignore[arg-type]
)


def _fail(name: str, msg: str) -> NoReturn:
    raise ManifestError([FieldError(name, msg)])


def load_yaml(
    text: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str = "plugin.yaml"
) -> Any:
    """Parse one YAML document of untrusted origin into plain JSON data (see module rules)."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > max_bytes:
        _fail(name, f"is {len(raw)} bytes; the limit is {max_bytes} bytes")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        _fail(name, "is not valid UTF-8")
    loader = _StrictLoader(decoded)
    try:
        data = loader.get_single_data()
    except _Refused as exc:
        _fail(name, str(exc))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = ", ".join(part for part in (exc.context, exc.problem) if part)
        _fail(name, f"is not valid YAML: {reason}{where}")
    except yaml.YAMLError as exc:
        _fail(name, f"is not valid YAML: {exc}")
    finally:
        loader.dispose()
    found = find_bad_text(data, name)
    if found is not None:
        _fail(*found)
    return data


def load_manifest(text: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Manifest:
    """Parse and validate ``plugin.yaml``; raises ``ManifestError`` listing every problem."""
    data = load_yaml(text, max_bytes=max_bytes)
    if data is None:
        _fail("plugin.yaml", "is empty")
    return validate_manifest(data)
