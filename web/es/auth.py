"""Who may write: the configured token, or — with none configured — loopback clients only.

Log shippers send the token the ways their Elasticsearch outputs can: ``Authorization:
Bearer``, basic auth with the token as password (any user name), or ``ApiKey``.
Reads are public.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets

from starlette.requests import Request

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


def authorize_write(request: Request, token: str) -> None:
    """Raises a 401/403 in Elasticsearch's ``security_exception`` shape."""
    if not token:
        if is_loopback(request.client.host if request.client else None):
            return
        raise EsError(403, "security_exception", "writes are accepted from loopback only (no token is configured)")
    given = _given(request.headers.get("authorization", ""))
    if not given or not secrets.compare_digest(given.encode(), token.encode()):
        raise EsError(401, "security_exception", "missing or wrong token for a write",
                      {"WWW-Authenticate": 'Bearer realm="appliance", Basic realm="appliance"'})  # fmt: skip
