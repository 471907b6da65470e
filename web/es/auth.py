"""Who may write: the configured token, or — with none configured — loopback clients only.

Log shippers send the token the ways their Elasticsearch outputs can: ``Authorization:
Bearer``, basic auth with the token as password (any user name), or ``ApiKey``.
Reads are public unless ``public_reads = false`` (then the same check guards every request
but the health probes: :class:`ReadGate`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import EsError


def _given(header: str) -> str:
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme in ("bearer", "apikey"):
        return value
    if scheme == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return ""
    return ""


def is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def allowed(scope_client: tuple[str, int] | None, authorization: str, token: str) -> bool:
    """The configured token was given, or none is configured and the client is loopback."""
    if not token:
        return is_loopback(scope_client[0] if scope_client else None)
    given = _given(authorization)
    return bool(given) and secrets.compare_digest(given.encode(), token.encode())


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="appliance", Basic realm="appliance"'}


def authorize_write(request: Request, token: str) -> None:
    """Raises a 401/403 in Elasticsearch's ``security_exception`` shape."""
    client = (request.client.host, request.client.port) if request.client else None
    if allowed(client, request.headers.get("authorization", ""), token):
        return
    if not token:
        raise EsError(403, "security_exception", "writes are accepted from loopback only (no token is configured)")
    raise EsError(401, "security_exception", "missing or wrong token for a write", CHALLENGE)


class ReadGate:
    """Plain ASGI: with ``public_reads = false`` nothing is answered without the token
    (or, with no token, off loopback) except the liveness and readiness probes."""

    OPEN = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.OPEN:
            await self.app(scope, receive, send)
            return
        auth = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
        if allowed(scope.get("client"), auth, self.token):
            await self.app(scope, receive, send)
            return
        status = 401 if self.token else 403
        reason = "this appliance's reads need the token" if self.token else "reads are accepted from loopback only"
        body = orjson.dumps({"error": {"type": "security_exception", "reason": reason}, "status": status})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if self.token:
            headers += [(k.lower().encode(), v.encode()) for k, v in CHALLENGE.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
