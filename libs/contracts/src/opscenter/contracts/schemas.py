"""JSON Schema snapshots of every payload, and the check that refuses incompatible changes.

``python -m opscenter.contracts.schemas write`` writes ``schemas/<event_type>.json`` and
``schemas/examples/<event_type>.json`` (an example CloudEvent); ``check`` compares the models
with the committed snapshots and exits 1 on a breaking change.

Breaking: a removed field, a new required field, a field that became required, a changed type
(including one becoming nullable), a narrowed enum or constraint, a removed event type,
a committed example the current model no longer parses, a missing snapshot.
Compatible (the snapshot just needs regenerating): a new optional field, a widened enum or
constraint, changed titles and descriptions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscenter.contracts.envelope import CloudEvent
from opscenter.contracts.errors import ContractError
from opscenter.contracts.events import (
    EventPayload,
    all_payload_classes,
    dataschema_for,
    example_event,
    parse_payload,
)

__all__ = [
    "SCHEMA_DIR",
    "Change",
    "CheckReport",
    "check",
    "compare_schemas",
    "example_document",
    "main",
    "render",
    "render_all",
    "schema_for",
    "write",
]

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
"""``libs/contracts/schemas`` in the source tree."""

_MAX_DEPTH = 64
_CONSTRAINTS_MIN = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_CONSTRAINTS_MAX = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def schema_for(cls: type[EventPayload]) -> dict[str, Any]:
    """The payload's JSON Schema, tagged with its id, event type, topic and key."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": dataschema_for(cls),
        "x-event-type": cls.event_type,
        "x-topic": cls.topic.name,
        "x-partition-key": cls.topic.key,
        **cls.model_json_schema(),
    }


def example_document(cls: type[EventPayload]) -> dict[str, Any]:
    """The example event as committed: a full CloudEvent around ``cls.example()``."""
    doc: dict[str, Any] = json.loads(example_event(cls).to_json_bytes())
    return doc


def render(doc: Any) -> str:
    """Stable text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """Every snapshot file, relative path -> text."""
    out: dict[str, str] = {}
    for cls in all_payload_classes():
        out[f"{cls.event_type}.json"] = render(schema_for(cls))
        out[f"examples/{cls.event_type}.json"] = render(example_document(cls))
    return out


# --- compatibility ----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between two schemas; ``path`` is a dotted field path."""

    path: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"


def _resolve(schema: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    node: Any = schema
    for _ in range(_MAX_DEPTH):
        if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
            break
        ref: str = node["$ref"]
        if not ref.startswith("#/"):
            break
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if isinstance(node, dict) and isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        node = {**_resolve(node["allOf"][0], root), **rest}
    return node if isinstance(node, dict) else {}


def _variants(schema: dict[str, Any], root: Mapping[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return [v for item in schema[key] for v in _variants(_resolve(item, root), root)]
    return [schema]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _own_types(s: dict[str, Any]) -> set[str]:
    t = s.get("type")
    if isinstance(t, str):
        types = {t}
    elif isinstance(t, list):
        types = {str(x) for x in t}
    elif "const" in s:
        types = {_json_type(s["const"])}
    elif isinstance(s.get("enum"), list | tuple):
        types = {_json_type(v) for v in s["enum"]}
    else:
        types = {"any"}
    fmt = s.get("format")
    return {f"string({fmt})" if x == "string" and fmt else x for x in types}


def _types(schema: dict[str, Any], root: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(t for v in _variants(schema, root) for t in _own_types(v))


def _enum(schema: dict[str, Any], root: Mapping[str, Any]) -> set[str] | None:
    values: set[str] = set()
    for v in _variants(schema, root):
        if "const" in v:
            values.add(json.dumps(v["const"], sort_keys=True))
        elif isinstance(v.get("enum"), list | tuple):
            values |= {json.dumps(x, sort_keys=True) for x in v["enum"]}
        elif v.get("type") != "null":
            return None
    return values


def _constraints(o: dict[str, Any], n: dict[str, Any], path: str, out: list[Change]) -> None:
    for key in _CONSTRAINTS_MIN + _CONSTRAINTS_MAX:
        ov, nv = o.get(key), n.get(key)
        if ov == nv or nv is None:
            if ov is not None and nv is None:
                out.append(Change(path, f"{key} {ov} removed", breaking=False))
            continue
        narrowed = ov is None or (nv > ov if key in _CONSTRAINTS_MIN else nv < ov)
        out.append(Change(path, f"{key} changed from {ov} to {nv}", breaking=narrowed))
    if o.get("pattern") != n.get("pattern"):
        widened = n.get("pattern") is None
        out.append(
            Change(
                path,
                f"pattern changed from {o.get('pattern')!r} to {n.get('pattern')!r}",
                breaking=not widened,
            )
        )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _compare_structure(
    o: dict[str, Any],
    n: dict[str, Any],
    path: str,
    roots: tuple[Any, Any],
    out: list[Change],
    depth: int,
) -> None:
    _constraints(o, n, path, out)
    op, np_ = o.get("properties"), n.get("properties")
    if isinstance(op, dict) and isinstance(np_, dict):
        oreq, nreq = set(o.get("required", [])), set(n.get("required", []))
        for name in op:
            if name not in np_:
                out.append(Change(_join(path, name), "field removed", breaking=True))
        for name in np_:
            where = _join(path, name)
            if name not in op:
                if name in nreq:
                    out.append(Change(where, "new required field", breaking=True))
                else:
                    out.append(Change(where, "new optional field", breaking=False))
                continue
            if name in nreq and name not in oreq:
                out.append(Change(where, "field became required", breaking=True))
            _compare(op[name], np_[name], where, roots, out, depth + 1)
    if isinstance(o.get("items"), dict) and isinstance(n.get("items"), dict):
        _compare(o["items"], n["items"], f"{path}[]", roots, out, depth + 1)
    oa, na = o.get("additionalProperties"), n.get("additionalProperties")
    if isinstance(oa, dict) and isinstance(na, dict):
        _compare(oa, na, _join(path, "*"), roots, out, depth + 1)


def _compare(
    old: Any, new: Any, path: str, roots: tuple[Any, Any], out: list[Change], depth: int = 0
) -> None:
    if depth > _MAX_DEPTH:
        return
    o, n = _resolve(old, roots[0]), _resolve(new, roots[1])
    ot, nt = _types(o, roots[0]), _types(n, roots[1])
    if ot != nt:
        out.append(
            Change(
                path,
                f"type changed from {'|'.join(sorted(ot))} to {'|'.join(sorted(nt))}",
                breaking=True,
            )
        )
    oe, ne = _enum(o, roots[0]), _enum(n, roots[1])
    if oe is not None and ne is None:
        out.append(Change(path, "enum lifted (any value allowed)", breaking=False))
    elif oe is None and ne is not None:
        out.append(Change(path, f"now restricted to {sorted(ne)}", breaking=True))
    elif oe is not None and ne is not None:
        if oe - ne:
            out.append(Change(path, f"enum narrowed: removed {sorted(oe - ne)}", breaking=True))
        if ne - oe:
            out.append(Change(path, f"enum widened: added {sorted(ne - oe)}", breaking=False))
    new_variants = _variants(n, roots[1])
    for ov in _variants(o, roots[0]):
        kind = _own_types(ov)
        nv = next((v for v in new_variants if _own_types(v) == kind), None)
        if nv is not None:
            _compare_structure(ov, nv, path, roots, out, depth)


def compare_schemas(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every difference that matters between two payload schemas, each marked breaking or not."""
    out: list[Change] = []
    _compare(dict(old), dict(new), "", (old, new), out)
    return out


# --- check and write --------------------------------------------------------------------


@dataclass
class CheckReport:
    """The outcome of ``check``: ``ok`` unless something is breaking or missing."""

    breaking: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaking and not self.missing

    def lines(self) -> Iterator[str]:
        for item in self.breaking:
            yield f"BREAKING {item}"
        for item in self.missing:
            yield f"MISSING  {item} (run: python -m opscenter.contracts.schemas write)"
        for item in self.stale:
            yield f"STALE    {item} (compatible; regenerate the snapshot)"


def _check_example(cls: type[EventPayload], path: Path, report: CheckReport) -> None:
    name = f"examples/{cls.event_type}.json"
    if not path.exists():
        report.missing.append(name)
        return
    text = path.read_text()
    try:
        event = CloudEvent.from_json_bytes(text.encode())
        parse_payload(event)
    except ContractError as exc:
        report.breaking.append(f"{name}: the committed example no longer parses: {exc}")
        return
    if text != render(example_document(cls)):
        report.stale.append(f"{name}: example changed")


def check(directory: Path = SCHEMA_DIR) -> CheckReport:
    """Compare the current models with the snapshots in ``directory``."""
    report = CheckReport()
    classes = all_payload_classes()
    for cls in classes:
        name = f"{cls.event_type}.json"
        path = directory / name
        if not path.exists():
            report.missing.append(name)
        else:
            text = path.read_text()
            current = schema_for(cls)
            changes = compare_schemas(json.loads(text), current)
            report.breaking += [f"{cls.event_type}: {c}" for c in changes if c.breaking]
            if text != render(current):
                compatible = [str(c) for c in changes if not c.breaking] or ["descriptions"]
                report.stale.append(f"{cls.event_type}: {'; '.join(compatible)}")
        _check_example(cls, directory / "examples" / name, report)
    known = {f"{cls.event_type}.json" for cls in classes}
    for path in sorted(directory.glob("*.json")):
        if path.name not in known:
            report.breaking.append(f"{path.stem}: event type removed (its snapshot remains)")
    return report


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every snapshot and example into ``directory``; returns the files written."""
    written: list[Path] = []
    for rel, text in render_all().items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opscenter.contracts.schemas",
        description="Write or check the JSON Schema snapshots of every event payload.",
    )
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="snapshot directory")
    args = parser.parse_args(argv)
    if args.command == "write":
        written = write(args.dir)
        print(f"wrote {len(written)} file(s) in {args.dir}")
        return 0
    report = check(args.dir)
    for line in report.lines():
        print(line)
    print("snapshots compatible" if report.ok else "snapshots INCOMPATIBLE")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
