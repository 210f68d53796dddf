"""Streaming ``multipart/form-data`` for package uploads, with the size cap enforced as bytes
arrive: the ``package`` part is hashed and spooled to a temporary file, and the request is
refused (413) the moment it passes the limit, so an oversized upload is never held whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from opscenter.servicekit.errors import Problem, field_error
from opscenter.servicekit.nul_guard import bad_text_reason

_TEXT_FIELD_MAX = 64 * 1024
TEXT_FIELDS = ("plugin", "signature", "key_id", "changelog", "dry_run")


@dataclass
class UploadedPackage:
    path: Path
    size: int
    sha256: bytes
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.sha256.hex()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _unlink(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "package-too-large",
        f"The package is larger than {limit} bytes",
        errors=[field_error("package", f"larger than {limit} bytes")],
        max_bytes=limit,
    )


async def read_upload(
    request: Request, *, max_package_bytes: int, tmp_dir: Path
) -> UploadedPackage:
    """Parses the form: ``package`` (the archive) and the optional text fields."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise Problem(
            415,
            "unsupported-media-type",
            "Upload the package as multipart/form-data with a 'package' part",
        )
    declared = request.headers.get("content-length")
    overhead = 2 * _TEXT_FIELD_MAX * len(TEXT_FIELDS) + 64 * 1024
    if declared and declared.isdigit() and int(declared) > max_package_bytes + overhead:
        raise _too_large(max_package_bytes)

    os.makedirs(tmp_dir, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".pkg")
    out = os.fdopen(fd, "wb")
    hasher = hashlib.sha256()
    state: dict[str, object] = {"name": None, "filename": None, "size": 0, "seen_package": False}
    headers: dict[bytes, bytes] = {}
    current: dict[str, bytes] = {"field": b"", "value": b""}
    texts: dict[str, bytearray] = {}
    errors: list[dict[str, str]] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        current["value"] += data[start:end]

    def on_header_end() -> None:
        headers[current["field"].lower()] = current["value"]
        current["field"], current["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == "package":
            if state["seen_package"]:
                errors.append(field_error("package", "was sent more than once"))
            state["seen_package"] = True
            filename = disp.get(b"filename")
            state["filename"] = filename.decode("utf-8", "replace") if filename else None
        elif name in TEXT_FIELDS:
            texts[name] = bytearray()
        headers.clear()

    def on_end() -> None:
        state["ended"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        name = state["name"]
        chunk = data[start:end]
        if name == "package":
            size = int(state["size"]) + len(chunk)  # type: ignore[call-overload]
            if size > max_package_bytes:
                raise _too_large(max_package_bytes)
            state["size"] = size
            hasher.update(chunk)
            out.write(chunk)
        elif isinstance(name, str) and name in texts:
            buf = texts[name]
            if len(buf) + len(chunk) > _TEXT_FIELD_MAX:
                raise Problem(
                    422,
                    "validation-error",
                    f"The form field {name!r} is too long",
                    errors=[field_error(name, f"longer than {_TEXT_FIELD_MAX} bytes")],
                )
            buf.extend(chunk)

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_end": on_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if not state.get("ended"):
            # python-multipart accepts a body cut off mid-part; a truncated package is refused.
            raise Problem(
                400,
                "malformed-form",
                "The multipart body ends before its closing boundary (--boundary--)",
                errors=[field_error("body", "has no closing multipart boundary")],
            )
    except Problem:
        out.close()
        _unlink(tmp_name)
        raise
    except Exception as exc:
        out.close()
        _unlink(tmp_name)
        raise Problem(
            400,
            "malformed-form",
            f"The multipart body could not be read: {exc}",
            errors=[field_error("body", "is not a readable multipart/form-data body")],
        ) from exc
    out.close()
    if not state["seen_package"] or int(state["size"]) == 0:  # type: ignore[call-overload]
        errors.append(field_error("package", "is required (a non-empty .tar.gz or .zip file)"))
    fields: dict[str, str] = {}
    for name, buf in texts.items():
        try:
            value = buf.decode("utf-8").strip()
        except UnicodeDecodeError:
            errors.append(field_error(name, "must be UTF-8 text"))
            continue
        reason = bad_text_reason(value)
        if reason is not None:
            errors.append(field_error(name, reason))
            continue
        if value:
            fields[name] = value
    if errors:
        _unlink(tmp_name)
        raise Problem(
            422,
            "validation-error",
            "The upload is invalid: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            errors=errors,
        )
    return UploadedPackage(
        path=Path(tmp_name),
        size=int(state["size"]),  # type: ignore[call-overload]
        sha256=hasher.digest(),
        filename=state["filename"] if isinstance(state["filename"], str) else None,
        fields=fields,
    )
