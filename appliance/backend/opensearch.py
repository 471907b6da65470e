"""The remote backend: an existing OpenSearch or Elasticsearch cluster, over HTTP.

The Lucene text goes to the cluster as ``query_string`` on ``message`` (checked here first
with the appliance's own parser, so a typo is a 400 with a column, as locally), the time
range as a ``range`` filter on ``@timestamp``, counts as ``date_histogram`` and ``terms``
aggregations; batches (recheck's signatures) go in one ``_msearch``. A cluster that is
down, slow or refuses us is a :class:`BackendError` with a status an API can return,
never a traceback. Raw logs come from the build's ``log_url`` when it answers, else are
rebuilt from the file's events.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import orjson
import zstandard

from index.partitions import DAY_US, day_of, day_start_us

from ..events import iso
from ..reader import GZIP_MAGIC, ZSTD_MAGIC
from ..recheck.classify import published_url
from ..recheck.signatures import translate_check
from .base import (
    MAX_US,
    SIDEBAR_KEYWORDS,
    BackendError,
    BuildHits,
    BuildsResult,
    ContextLine,
    EventRef,
    Hit,
    PageResult,
    SearchPage,
    SearchRequest,
    iso_us,
    iter_hits,
    quote,
    with_filters,
)

MAX_WINDOW = 10_000
"""``index.max_result_window``: deeper pages need search_after (exports use :func:`iter_hits`)."""
MSEARCH_BATCH = 64
POOL_SIZE = 16
"""Connections kept per cluster node: Discover sends three requests at once per page."""
BUILDS_MAX = 10_000
"""Builds one recheck aggregation returns (OpenSearch's ``search.max_buckets`` is 65,535
buckets in all, sub-buckets included)."""
NOT_AGGREGATABLE = frozenset({"message", "@timestamp", "_id", "line", "nlines"})
RAW_FIELDS = frozenset({"@timestamp", "line", "nlines"})
"""Fields that never take the keyword suffix (dates and numbers)."""
FACETS = (*SIDEBAR_KEYWORDS, "build_name", "build_status", "build_queue", "build_branch", "project", "filename",
          "tags", "node_provider", "voting")  # fmt: skip
"""A sidebar's fields on a cluster (its mapping is not read): one ``terms`` aggregation
each, in one request."""
LONG_RANGE_US = 30 * DAY_US
"""A histogram over a range longer than this starts at the oldest event's day."""
FAR_US = 32_503_680_000_000_000
"""3000-01-01: a bound past it is no bound."""
GRAIN_US = 1000
"""A cluster's ``date`` keeps milliseconds."""


class OpenSearchBackend:
    name = "opensearch"
    grain_us = GRAIN_US

    def __init__(self, client: Any, index: str = "logstash-*", *, url: str = "", keyword_suffix: str = "",
                 timeout_s: float = 30.0, verify_tls: bool = True) -> None:  # fmt: skip
        self.client = client
        self.index = index
        self.url = url
        self.keyword_suffix = keyword_suffix
        self.timeout_s = timeout_s
        self.verify_tls = verify_tls

    @classmethod
    def from_config(cls, cfg: Any) -> OpenSearchBackend:
        return cls(make_client(cfg), cfg.opensearch_index, url=cfg.opensearch_url,
                   keyword_suffix=cfg.opensearch_keyword_suffix, timeout_s=cfg.opensearch_timeout_s,
                   verify_tls=cfg.opensearch_verify_tls)  # fmt: skip

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], **kw: Any) -> Any:
        """One request; the client's exceptions become :class:`BackendError`."""
        return call(fn, self.url, self.timeout_s, **kw)

    def _kw(self, name: str) -> str:
        return name if name in RAW_FIELDS else name + self.keyword_suffix

    def _query(self, text: str, start_us: int | None, end_us: int | None) -> dict[str, Any]:
        text = text.strip() or "*"
        q: dict[str, Any] = {"match_all": {}} if text == "*" else {
            "query_string": {"query": text, "default_field": "message"}}  # fmt: skip
        # bounds at the ends of time are left open (clusters refuse some far-future dates)
        lo = start_us if start_us is not None and start_us > 0 else None
        hi = end_us if end_us is not None and end_us < FAR_US else None
        if lo is None and hi is None:
            return q
        rng = {k: iso(v) for k, v in (("gte", lo), ("lte", hi)) if v is not None}
        return {"bool": {"must": [q], "filter": [{"range": {"@timestamp": rng}}]}}

    def _search_body(self, r: SearchRequest) -> dict[str, Any]:
        if r.offset + r.size > MAX_WINDOW:
            raise BackendError(400, f"page too deep: the cluster returns the first {MAX_WINDOW} hits")
        return {"query": self._query(r.query, r.start_us, r.end_us), "size": r.size, "from": r.offset,
                "sort": [{"@timestamp": {"order": "desc" if r.newest_first else "asc"}}], "track_total_hits": True}  # fmt: skip

    @staticmethod
    def _hit(h: dict[str, Any]) -> Hit:
        ev = dict(h.get("_source") or {})
        ts = ev.get("@timestamp")
        try:
            ts_us = iso_us(ts) if isinstance(ts, str) else int(float(ts if ts is not None else h["sort"][0]) * 1000)
        except (ValueError, TypeError, KeyError, IndexError):
            ts_us = 0
        ev["_id"] = str(h.get("_id", ""))
        return Hit(ev["_id"], ts_us, ev)

    def _page(self, res: dict[str, Any]) -> SearchPage:
        hits = res.get("hits") or {}
        total = hits.get("total", 0)
        total = int(total.get("value", 0)) if isinstance(total, dict) else int(total or 0)
        return SearchPage(total, [self._hit(h) for h in hits.get("hits") or []], float(res.get("took", 0)),
                          bool(res.get("timed_out")))  # fmt: skip

    def _msearch(self, bodies: Sequence[dict[str, Any] | BackendError]) -> list[dict[str, Any] | BackendError]:
        """Bodies in ``_msearch`` batches; an item the cluster refused is its BackendError."""
        out: list[dict[str, Any] | BackendError] = list(bodies)
        todo = [i for i, b in enumerate(bodies) if not isinstance(b, BackendError)]
        for k in range(0, len(todo), MSEARCH_BATCH):
            idx = todo[k : k + MSEARCH_BATCH]
            lines: list[dict[str, Any]] = []
            for i in idx:
                lines += [{"index": self.index}, bodies[i]]  # type: ignore[list-item]
            res = self._call(self.client.msearch, body=lines)
            for i, r in zip(idx, res.get("responses") or [], strict=False):
                out[i] = BackendError(int(r.get("status") or 400), reason(r)) if "error" in r else r
        return out

    # -- the interface ---------------------------------------------------------------------

    def check(self, query: str) -> None:
        translate_check(query)

    def search(self, query: str, start_us: int | None = None, end_us: int | None = None, *,
               filters: Sequence[tuple[str, str]] = (), newest_first: bool = True, size: int = 50,
               offset: int = 0) -> SearchPage:  # fmt: skip
        body = self._search_body(SearchRequest(with_filters(query, filters), start_us, end_us, newest_first, size, offset))
        return self._page(self._call(self.client.search, index=self.index, body=body))

    def search_many(self, requests: Sequence[SearchRequest]) -> list[PageResult]:
        bodies: list[dict[str, Any] | BackendError] = []
        for r in requests:
            try:
                bodies.append(self._search_body(r))
            except BackendError as e:
                bodies.append(e)
        return [r if isinstance(r, BackendError) else self._page(r) for r in self._msearch(bodies)]

    def count(self, query: str, start_us: int | None = None, end_us: int | None = None) -> int:
        res = self._call(self.client.count, index=self.index, body={"query": self._query(query, start_us, end_us)})
        return int(res.get("count", 0))

    def histogram(self, query: str, start_us: int, end_us: int, interval_us: int) -> list[tuple[int, int]]:
        if interval_us % 1000:
            raise BackendError(400, "histogram intervals are whole milliseconds on a cluster")
        hist = {"field": "@timestamp", "fixed_interval": duration(interval_us), "min_doc_count": 1}
        body = {"size": 0, "query": self._query(query, start_us, end_us), "aggs": {"h": {"date_histogram": hist}}}
        res = self._call(self.client.search, index=self.index, body=body)
        counts = {int(b["key"]) * 1000: int(b["doc_count"]) for b in _buckets(res, "h")}
        first = start_us - start_us % interval_us
        return [(k, counts.get(k, 0)) for k in range(first, end_us + 1, interval_us)]

    def facet_fields(self) -> Sequence[str]:
        return FACETS

    def span(self, start_us: int, end_us: int, now_us: int) -> tuple[int, int]:
        """Up to the end of today; a long range from the day of the oldest event (one
        cheap request)."""
        end = min(end_us, day_start_us(day_of(now_us)) + DAY_US - 1)
        if end - start_us > LONG_RANGE_US:
            oldest = self.search("*", start_us, end, newest_first=False, size=1).hits
            if oldest:
                start_us = max(start_us, day_start_us(day_of(oldest[0].ts_us)))
        return start_us, max(end, start_us + 1)

    def top_values(self, fields: Sequence[str], query: str, start_us: int | None = None,
                   end_us: int | None = None, n: int = 5) -> dict[str, list[tuple[str, int]]]:  # fmt: skip
        names = [f for f in fields if f not in NOT_AGGREGATABLE]
        if not names:
            return {}
        # more than n per field, then the same tie order as the local backend (count, value)
        aggs = {f"t{i}": {"terms": {"field": self._kw(f), "size": max(n * 4, 50)}} for i, f in enumerate(names)}
        body = {"size": 0, "query": self._query(query, start_us, end_us), "aggs": aggs}
        res = self._call(self.client.search, index=self.index, body=body)
        out = {}
        for i, f in enumerate(names):
            vals = sorted(((_key(b), int(b["doc_count"])) for b in _buckets(res, f"t{i}")), key=lambda kv: (kv[1], kv[0]),
                          reverse=True)[:n]  # fmt: skip
            if vals:
                out[f] = vals
        return out

    def builds_matching(self, queries: Sequence[str], start_us: int | None = None, end_us: int | None = None,
                        fields: Sequence[str] = ("build_status",)) -> list[BuildsResult]:  # fmt: skip
        sub: dict[str, Any] = {"first": {"min": {"field": "@timestamp"}}}
        sub |= {f"f{i}": {"terms": {"field": self._kw(f), "size": 1}} for i, f in enumerate(fields)}
        terms = {"field": self._kw("build_uuid"), "size": BUILDS_MAX}
        bodies: list[dict[str, Any] | BackendError] = [
            {"size": 0, "query": self._query(q, start_us, end_us), "aggs": {"b": {"terms": terms, "aggs": sub}}}
            for q in queries
        ]
        out: list[BuildsResult] = []
        for res in self._msearch(bodies):
            if isinstance(res, BackendError):
                out.append(res)
                continue
            builds = {}
            for b in _buckets(res, "b"):
                first = b.get("first", {}).get("value")
                attrs = {f: _key(bb[0]) for i, f in enumerate(fields) if (bb := b.get(f"f{i}", {}).get("buckets"))}
                builds[_key(b)] = BuildHits(int(b["doc_count"]), int(float(first) * 1000) if first is not None else 0, attrs)
            out.append(builds)
        return out

    # -- files -----------------------------------------------------------------------------

    @staticmethod
    def _file_query(build_uuid: str, filename: str) -> str:
        return f"build_uuid:{quote(build_uuid)} AND filename:{quote(filename)}"

    def context(self, ref: EventRef, before: int, after: int) -> list[ContextLine]:
        base = self._file_query(ref.build_uuid, ref.filename)
        if ref.line is not None:  # the events carry their lines: the window by line numbers
            lo, hi = max(1, ref.line - before), ref.line + ref.nlines - 1 + after
            page = self.search(f"{base} AND line:[{lo} TO {hi}]", newest_first=False, size=min(MAX_WINDOW, hi - lo + 1))
            if page.hits:
                out: list[ContextLine] = []
                for h in sorted(page.hits, key=lambda h: int(h.event.get("line") or 0)):
                    first = int(h.event.get("line") or 0)
                    for i, text in enumerate(str(h.event.get("message", "")).split("\n")):
                        n = first + i
                        if lo <= n <= hi:
                            out.append(ContextLine(n, text, ref.line <= n < ref.line + ref.nlines))
                return out
        # no line numbers (a Logstash-fed cluster): the neighbouring events in time
        older = self.search(base, None, ref.ts_us, newest_first=True, size=before + 1).hits[::-1]
        newer = self.search(base, ref.ts_us + 1, None, newest_first=False, size=after).hits
        return [ContextLine(None, str(h.event.get("message", "")), h.ts_us == ref.ts_us) for h in older + newer]

    def raw_log(self, build_uuid: str, filename: str) -> Iterator[bytes]:
        base = self._file_query(build_uuid, filename)
        page = self.search(base, newest_first=False, size=1)
        if not page.hits:
            raise BackendError(404, f"not found: {build_uuid}/{filename}")
        url = published_url(page.hits[0].event.get("log_url"), filename)
        published = fetch_log(url, self.timeout_s, self.verify_tls) if url else None
        return published if published is not None else self._rebuilt(base)

    def _rebuilt(self, query: str) -> Iterator[bytes]:
        """The file from its events, oldest first: ``@timestamp message`` per event (the
        messages lack the line's own timestamp prefix; the viewer reads the ISO one)."""
        buf: list[bytes] = []
        for h in iter_hits(self, query, 0, MAX_US, newest_first=False, grain_us=GRAIN_US):
            buf.append(f"{h.event.get('@timestamp', '')} {h.event.get('message', '')}\n".encode())
            if len(buf) >= 500:
                yield b"".join(buf)
                buf = []
        if buf:
            yield b"".join(buf)

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    stop = close
    """``Services.close()`` stops what it holds."""


# -- helpers ---------------------------------------------------------------------------------


def make_client(cfg: Any) -> Any:
    """An ``opensearch-py`` client for the config's cluster (basic auth if a user or a
    password is set; TLS verified unless ``opensearch_verify_tls`` is false), with
    orjson for bodies (bulk requests carry ~4x the raw log bytes as JSON)."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import SerializationError
    from opensearchpy.serializer import JSONSerializer

    class Orjson(JSONSerializer):  # type: ignore[misc]
        def dumps(self, data: Any) -> str:
            return data if isinstance(data, str) else orjson.dumps(data, default=str).decode()

        def loads(self, s: str) -> Any:
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError as e:
                raise SerializationError(s, e) from None

    if not cfg.opensearch_url:
        raise BackendError(500, "backend = opensearch needs opensearch_url")
    auth = (cfg.opensearch_user, cfg.opensearch_password) if cfg.opensearch_user or cfg.opensearch_password else None
    return OpenSearch(hosts=[cfg.opensearch_url], http_auth=auth, verify_certs=cfg.opensearch_verify_tls,
                      ssl_show_warn=False, timeout=cfg.opensearch_timeout_s, max_retries=1, retry_on_timeout=False,
                      pool_maxsize=POOL_SIZE, serializer=Orjson())  # fmt: skip


def call(fn: Callable[..., Any], url: str, timeout_s: float, **kw: Any) -> Any:
    from opensearchpy import exceptions as ox

    try:
        return fn(**kw)
    except ox.ConnectionTimeout:
        raise BackendError(504, f"the search cluster at {url} did not answer within {timeout_s:g} s") from None
    except ox.ConnectionError as e:
        raise BackendError(502, f"cannot reach the search cluster at {url}: {_cause(e)}") from None
    except ox.TransportError as e:
        status = e.status_code if isinstance(e.status_code, int) else 502
        why = reason(e.info) if isinstance(e.info, dict) else str(e.error)
        if status == 400:
            raise BackendError(400, f"the search cluster refused the request: {why}") from None
        if status in (401, 403):
            raise BackendError(502, f"the search cluster at {url} refused our credentials ({status}): {why}") from None
        raise BackendError(502, f"the search cluster at {url} answered {status}: {why}") from None
    except ox.OpenSearchException as e:
        raise BackendError(502, f"the search cluster at {url}: {type(e).__name__}: {e}") from None


def _cause(e: Exception) -> str:
    inner = getattr(e, "info", None)
    return str(inner or e)[:300]


def reason(body: Any) -> str:
    """The readable part of an Elasticsearch error body."""
    if not isinstance(body, dict):
        return str(body)[:300]
    err = body.get("error", body)
    if isinstance(err, dict):
        causes = err.get("root_cause") or []
        first = causes[0] if causes and isinstance(causes[0], dict) else err
        return str(first.get("reason") or err.get("reason") or err.get("type") or err)[:300]
    return str(err)[:300]


def duration(us: int) -> str:
    """An ES fixed interval: whole seconds when it is, else milliseconds."""
    return f"{us // 1_000_000}s" if us % 1_000_000 == 0 else f"{us // 1000}ms"


def _buckets(res: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(((res.get("aggregations") or {}).get(name) or {}).get("buckets") or [])


def _key(b: dict[str, Any]) -> str:
    return str(b.get("key_as_string", b.get("key")))


def fetch_log(url: str, timeout_s: float, verify: bool = True) -> Iterator[bytes] | None:
    """The published file at ``url`` (or ``.gz``, ``.zst``: log servers keep files
    compressed), decompressed, streamed; None if none answers 200 (the caller rebuilds the
    file from its events)."""
    client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)), follow_redirects=True,
                          verify=verify)  # fmt: skip
    for candidate in (url, url + ".gz", url + ".zst"):
        try:
            r = client.send(client.build_request("GET", candidate), stream=True)
        except httpx.HTTPError:
            break
        if r.status_code == 200:
            return _stream(client, r)
        r.close()
    client.close()
    return None


def _decompressor(head: bytes) -> Any:
    if head[:2] == GZIP_MAGIC:
        return zlib.decompressobj(wbits=31)
    if head[:4] == ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().decompressobj()
    return False


def _stream(client: httpx.Client, r: httpx.Response) -> Iterator[bytes]:
    """The body, decompressed if it is a ``.gz``/``.zst`` file served as such (by its
    magic number, as ingest reads files; httpx already undoes a ``Content-Encoding``)."""
    try:
        d: Any = None
        for chunk in r.iter_bytes():
            if d is None:
                d = _decompressor(chunk)
            yield d.decompress(chunk) if d else chunk
        if d and hasattr(d, "flush"):
            yield d.flush()
    except (httpx.HTTPError, zlib.error, zstandard.ZstdError) as e:
        raise BackendError(502, f"reading {r.url}: {e}") from None
    finally:
        r.close()
        client.close()
