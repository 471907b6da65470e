"""Digging pages: what is new in a failed build with a proposed signature (and saving it),
and the new error templates of the day across all builds.

``/recheck/builds/{uuid}/diff`` (``.json``): the diff, the proposal and what it matches;
``?query=`` evaluates an edited query instead. ``POST /recheck/builds/{uuid}/signature``
(a form) and ``POST /api/recheck/signatures`` (JSON) save ``<bug>.yaml``: writes need the
token (form field ``token`` or ``Authorization``) or, with none configured, loopback;
a form from another site is refused. ``/recheck/templates`` (``.json``): top new error
templates of the last 24 hours with counts and a daily trend.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from appliance.recheck.diff import unit_query
from appliance.recheck.digger import Digger, digger_for
from appliance.recheck.propose import SaveError

from .. import spark
from ..errors import HTTPError, guarded, not_found
from ..es.auth import authorize_write
from ..es.errors import EsError
from ..params import MAX_DAYS, is_build_ref, number
from ..params import days as days_param
from ..render import render
from ..security import SECURE
from ..services import services
from ..state import query_url

MAX_FORM = 64 * 1024


def digger(request: Request) -> Digger:
    svc = services(request)
    if getattr(svc, "remote", False):
        raise HTTPError(501, "digging needs the local index: not available with a remote backend")
    return digger_for(svc)


def _ref(request: Request) -> str:
    ref = request.path_params["uuid"]
    if not is_build_ref(ref):
        raise not_found(f"build {ref[:80]}")
    return ref


# -- the diff --------------------------------------------------------------------------------


async def _dig(request: Request) -> tuple[Any, Any, int]:
    dig, ref = digger(request), _ref(request)
    days = days_param(request)
    query = request.query_params.get("query") or None
    if query is not None and len(query) > 4096:
        raise HTTPError(400, "query: at most 4096 characters")
    d, p = await run_in_threadpool(lambda: dig.propose(ref, days=days, query=query))
    if not d.found:
        raise not_found(f"build {ref}")
    return d, p, days


@guarded
async def diff_json(request: Request) -> Response:
    d, p, _ = await _dig(request)
    return JSONResponse(
        {"diff": d.as_dict(), "proposal": p.as_dict()}, headers={"Cache-Control": "no-store"}
    )


@guarded
async def diff_page(request: Request) -> Response:
    d, p, days = await _dig(request)
    base = f"/recheck/builds/{d.build_uuid}/diff"

    def check(q: str) -> str:
        return base + "?" + urlencode({"days": days, "query": q})

    unit_checks = [check(unit_query(u.phrase, u.tag)) if u.phrase else "" for u in d.units]
    return render(
        "recheck_diff.html", title=f"New in {d.build_uuid[:7]}", d=d, p=p, days=days, base=base,
        unit_checks=unit_checks, check=check, discover=query_url(p.query, f"now-{days}d") if p.query else "",
        token_needed=bool(services(request).config.token),
    )  # fmt: skip


# -- saving ----------------------------------------------------------------------------------


async def _body(request: Request) -> bytes:
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise HTTPError(400, "content-length: not a number") from None
    if declared > MAX_FORM:
        raise HTTPError(413, f"request body over {MAX_FORM} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPError(413, f"request body over {MAX_FORM} bytes")
    return body


def _same_origin(request: Request) -> None:
    """A browser posting a form from another site says so (``Origin``, ``Sec-Fetch-Site``):
    with loopback trusted, that would let any page save signatures through the user."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise HTTPError(403, "cross-site form refused")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPError(403, "cross-site form refused")
    if origin == "null":
        raise HTTPError(403, "cross-site form refused")


def _authorize(request: Request, given: str | None) -> None:
    token = services(request).config.token
    if given and token:
        if secrets.compare_digest(given.encode(), token.encode()):
            return
        raise HTTPError(401, "wrong token")
    try:
        authorize_write(request, token)
    except EsError as e:
        raise HTTPError(e.status, e.reason) from None


def _flag(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "on", "yes")


async def _save(request: Request, dig: Digger, fields: dict[str, Any], build: str | None) -> Any:
    days = fields.get("days") or 10
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise HTTPError(400, "days: not a number") from None
    if not 1 <= days <= MAX_DAYS:
        raise HTTPError(400, f"days: between 1 and {MAX_DAYS}")
    try:
        return await run_in_threadpool(
            lambda: dig.save(
                fields.get("bug"),
                str(fields.get("query") or ""),
                allow_nonvoting=_flag(fields.get("allow_nonvoting", "")),
                build=build,
                days=days,
                overwrite=_flag(fields.get("overwrite", "")),
            )  # fmt: skip
        )
    except SaveError as e:
        raise HTTPError(e.status, e.message) from None


@guarded
async def save_form(request: Request) -> Response:
    _same_origin(request)
    dig, ref = digger(request), _ref(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPError(415, "a form (application/x-www-form-urlencoded), please")
    try:
        fields = dict(
            parse_qsl(
                (await _body(request)).decode("utf-8"), keep_blank_values=True, max_num_fields=20
            )
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPError(400, "not a readable form") from None
    _authorize(request, fields.get("token") or None)
    info = dig.engine.build(ref)
    if info is None:
        raise not_found(f"build {ref}")
    saved = await _save(request, dig, fields, info.uuid)
    return render(
        "recheck_saved.html", title=f"Saved {saved.file}", s=saved, build_uuid=info.uuid, status=201
    )


@guarded
async def save_api(request: Request) -> Response:
    _authorize(request, None)
    dig = digger(request)
    try:
        fields = orjson.loads(await _body(request))
    except orjson.JSONDecodeError:
        raise HTTPError(400, "body: a JSON object with bug and query") from None
    if not isinstance(fields, dict):
        raise HTTPError(400, "body: a JSON object with bug and query")
    build = fields.get("build")
    if build is not None and (not isinstance(build, str) or not 7 <= len(build) <= 64):
        raise HTTPError(400, "build: a build uuid or its short uuid")
    saved = await _save(request, dig, fields, build)
    return JSONResponse(saved.as_dict(), status_code=201)


# -- templates of the day --------------------------------------------------------------------


async def _trends(request: Request) -> Any:
    dig = digger(request)
    days = days_param(request, 7, 2, 30)
    limit = number(request, "limit", 50, 1, 500)
    only_new = request.query_params.get("all", "") in ("", "0")
    tr = await run_in_threadpool(lambda: dig.trends(days=days, limit=limit, only_new=only_new))
    return tr, only_new


@guarded
async def templates_json(request: Request) -> Response:
    tr, _ = await _trends(request)
    return JSONResponse(tr.as_dict(), headers={"Cache-Control": "no-store"})


@guarded
async def templates_page(request: Request) -> Response:
    tr, only_new = await _trends(request)
    rows = [{"t": t, "rects": spark.stacked(t.hourly, tr.hour_starts) if t.new else spark.stacked(t.series, tr.day_starts),
             "discover": query_url(t.query, f"now-{tr.days}d") if t.query else ""} for t in tr.templates]  # fmt: skip
    return render(
        "recheck_templates.html", title="New error templates", tr=tr, rows=rows, only_new=only_new
    )


def _route(path: str, endpoint: Any, method: str = "GET") -> Route:
    return Route(path, endpoint, methods=[method], middleware=SECURE)


routes: list[BaseRoute] = [
    _route("/recheck/builds/{uuid}/diff.json", diff_json),
    _route("/recheck/builds/{uuid}/diff", diff_page),
    _route("/recheck/builds/{uuid}/signature", save_form, "POST"),
    _route("/api/recheck/signatures", save_api, "POST"),
    _route("/recheck/templates.json", templates_json),
    _route("/recheck/templates", templates_page),
]
