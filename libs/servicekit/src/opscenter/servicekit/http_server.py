"""The HTTP server's own answers are problem+json too.

uvicorn answers a request it cannot parse (a malformed request line or header) itself, before any
app runs, with a plain-text 400. `ProblemHttpToolsProtocol` is uvicorn's httptools protocol with
that one answer rewritten as the RFC 9457 problem every other refusal is.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from opscenter.servicekit.errors import PROBLEM_BASE, PROBLEM_JSON


def bad_request_body(message: str) -> bytes:
    return json.dumps(
        {
            "type": PROBLEM_BASE + "bad-request",
            "title": "Bad request",
            "status": 400,
            "detail": f"The HTTP request could not be parsed: {message}",
        }
    ).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = bad_request_body(msg)
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
