"""The Zuul source: poll a tenant's finished builds, fetch their logs, ingest, classify.

Each poll reads ``GET {zuul_url}/api/tenant/{tenant}/builds?complete=true`` page by page
(newest first; both record shapes, up to Zuul 9 and >= 10), takes the builds it has not
seen, and for each one reads ``zuul-manifest.json`` under its ``log_url``, downloads
the files the configured file list names into a temporary build directory beside a
``build.json``, and ingests them with their build fields. Failed builds are then
classified (and, if configured, notified).

Resumable: the newest ``end_time`` handled and the builds handled since (a build that
started earlier can finish later, so a poll looks back ``zuul_overlap_h`` hours) live in
``<data>/zuul-<tenant>.json``. Polite: one client with a concurrency cap, a request
rate limit shared by all downloads, retries with exponential backoff that honour
``Retry-After``, and a size cap per file.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import orjson

from .. import builds as build_fields
from .. import ingest
from ..background import Background
from ..config import Config
from ..filelist import SKIP_SUFFIXES, FileList, strip_compression
from ..recheck.settings import setting
from .state import StateFile

log = logging.getLogger("appliance.zuul")

USER_AGENT = "ci-log-appliance-zuul-poller (+polite: rate limited)"
MANIFEST = "zuul-manifest.json"


@dataclass(frozen=True)
class ZuulSettings:
    url: str
    tenant: str
    poll_interval_s: float = 60.0
    page_size: int = 50
    max_pages: int = 20
    backfill: int = 20
    concurrency: int = 4
    rate_per_s: float = 10.0
    retries: int = 3
    backoff_s: float = 1.0
    timeout_s: float = 30.0
    max_file_bytes: int = 200 * 1024 * 1024
    index_unlisted: bool = False
    overlap_s: float = 6 * 3600.0
    classify: bool = True
    notify: bool = False

    @classmethod
    def from_config(cls, cfg: Config) -> ZuulSettings:
        return cls(
            url=cfg.zuul_url,
            tenant=cfg.zuul_tenant or cfg.tenant,
            poll_interval_s=setting(cfg, "zuul_poll_interval_s", 60.0),
            page_size=setting(cfg, "zuul_page_size", 50),
            max_pages=setting(cfg, "zuul_max_pages", 20),
            backfill=setting(cfg, "zuul_backfill", 20),
            concurrency=setting(cfg, "zuul_concurrency", 4),
            rate_per_s=setting(cfg, "zuul_rate_per_s", 10.0),
            retries=setting(cfg, "zuul_retries", 3),
            max_file_bytes=int(setting(cfg, "zuul_max_file_mb", 200.0) * 1024 * 1024),
            index_unlisted=setting(cfg, "zuul_index_unlisted", False),
            overlap_s=setting(cfg, "zuul_overlap_h", 6.0) * 3600,
            classify=setting(cfg, "zuul_classify", True),
            notify=setting(cfg, "zuul_notify", False),
        )

    @property
    def builds_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/tenant/{quote(self.tenant, safe='')}/builds"


# -- being polite over HTTP -------------------------------------------------------------------


class RateLimiter:
    """At most ``rate`` acquisitions per second, across threads (a token bucket of one)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)


class FetchError(Exception):
    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.status = status


class TooBig(FetchError):
    pass


_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class Fetcher:
    """GETs with the rate limit, retries (backoff, ``Retry-After``) and a size cap.

    httpx undoes ``Content-Encoding: gzip``; a file stored gzipped (``.gz``) arrives as
    its bytes and the ingest reader decompresses it by its magic number."""

    def __init__(self, s: ZuulSettings, client: httpx.Client | None = None) -> None:
        self.s = s
        self.client = client or httpx.Client(
            timeout=s.timeout_s,
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(
                max_connections=max(1, s.concurrency),
                max_keepalive_connections=max(1, s.concurrency),
            ),
        )
        self.limiter = RateLimiter(s.rate_per_s)
        self.requests = 0
        self.retried = 0

    def close(self) -> None:
        self.client.close()

    def _attempts(self, url: str) -> Iterator[int]:
        for attempt in range(self.s.retries + 1):
            self.limiter.acquire()
            self.requests += 1
            yield attempt

    def _backoff(self, attempt: int, retry_after: str | None = None) -> None:
        self.retried += 1
        delay = self.s.backoff_s * 2**attempt
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 60.0))

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        last = "no attempt"
        for attempt in self._attempts(url):
            try:
                r = self.client.get(url, params=params)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 200:
                    try:
                        return orjson.loads(r.content)
                    except orjson.JSONDecodeError:
                        raise FetchError(url, "not JSON", 200) from None
                if r.status_code not in _RETRY_STATUS:
                    raise FetchError(url, f"HTTP {r.status_code}", r.status_code)
                last = f"HTTP {r.status_code}"
                if attempt < self.s.retries:
                    self._backoff(attempt, r.headers.get("Retry-After"))
                continue
            if attempt < self.s.retries:
                self._backoff(attempt)
        raise FetchError(url, f"gave up after {self.s.retries + 1} attempts: {last}")

    def download(self, url: str, dest: Path) -> int:
        """Stream ``url`` into ``dest``; returns its size. FetchError if it cannot."""
        last = "no attempt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in self._attempts(url):
            try:
                with self.client.stream("GET", url) as r:
                    if r.status_code == 200:
                        return self._save(url, r, dest)
                    status = r.status_code
                    retry_after = r.headers.get("Retry-After")
                if status not in _RETRY_STATUS:
                    raise FetchError(url, f"HTTP {status}", status)
                last = f"HTTP {status}"
                if attempt < self.s.retries:
                    self._backoff(attempt, retry_after)
                continue
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
            if attempt < self.s.retries:
                self._backoff(attempt)
        raise FetchError(url, f"gave up after {self.s.retries + 1} attempts: {last}")

    def _save(self, url: str, r: httpx.Response, dest: Path) -> int:
        size = 0
        with open(dest, "wb") as f:
            for chunk in r.iter_bytes(1 << 20):
                size += len(chunk)
                if size > self.s.max_file_bytes:
                    f.close()
                    dest.unlink(missing_ok=True)
                    raise TooBig(url, f"larger than {self.s.max_file_bytes} bytes, skipped")
                f.write(chunk)
        return size


# -- builds and manifests --------------------------------------------------------------------


def manifest_files(manifest: dict[str, Any]) -> list[str]:
    """Every file path in a ``zuul-manifest.json`` tree (directories have ``children``)."""
    out: list[str] = []

    def walk(nodes: Any, prefix: str) -> None:
        for n in nodes or ():
            if not isinstance(n, dict) or not n.get("name"):
                continue
            name = str(n["name"]).strip("/")
            if ".." in name.split("/"):
                continue  # never write outside the build directory
            path = f"{prefix}{name}"
            if "children" in n:
                walk(n["children"], path + "/")
            else:
                out.append(path)

    walk(manifest.get("tree"), "")
    return out


def end_time(rec: dict[str, Any]) -> str:
    """Zuul's naive-UTC ISO time, comparable as text."""
    return str(rec.get("end_time") or rec.get("start_time") or "")


def _start_or_end(rec: dict[str, Any]) -> str:
    return str(rec.get("start_time") or rec.get("end_time") or "")


def _shift(iso_time: str, seconds: float) -> str:
    us = build_fields.parse_time(iso_time)
    if us is None:
        return ""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(us / 1e6 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class PollReport:
    builds_seen: int = 0
    new: int = 0
    ingested: int = 0
    files: int = 0
    bytes: int = 0
    classified: dict[str, list[str]] = field(default_factory=dict)
    """Failed build -> bugs it matched."""
    notified: int = 0
    errors: list[str] = field(default_factory=list)


# -- the poller ------------------------------------------------------------------------------


class ZuulPoller:
    """Owns one tenant's polling; ``start()`` runs it in a thread until ``stop()``."""

    def __init__(
        self,
        cfg: Config,
        store: Any,
        *,
        settings: ZuulSettings | None = None,
        submit: Callable[[Callable[[Any], Any]], Future[Any]] | None = None,
        engine: Any = None,
        notifier: Any = None,
        client: httpx.Client | None = None,
    ) -> None:
        """``submit``: the serving process's ingest service (``IngestService.submit``);
        without it the poller opens the writer itself (the ``zuul-poll`` command).
        ``engine``/``notifier``: classify and notify failed builds (optional)."""
        self.cfg = cfg
        self.store = store
        self.s = settings or ZuulSettings.from_config(cfg)
        if not self.s.url or not self.s.tenant:
            raise ValueError("the Zuul source needs zuul_url and zuul_tenant")
        self.submit = submit
        self.engine = engine
        self.notifier = notifier
        self.fetcher = Fetcher(self.s, client)
        self.filelist = FileList.load(cfg.file_list, self.s.index_unlisted)
        self.state = StateFile(Path(cfg.data_dir) / f"zuul-{_safe(self.s.tenant)}.json")
        self._bg = Background(self._loop, f"zuul-{self.s.tenant}")
        self._stop = self._bg.stopping
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {
            "source": "zuul", "url": self.s.url, "tenant": self.s.tenant, "running": False, "polls": 0,
            "last_poll": None, "last_poll_s": None, "last_ok": None, "builds_seen": 0, "builds_ingested": 0,
            "files": 0, "events": 0, "bytes": 0, "classified": 0, "notified": 0, "errors": 0, "last_error": None,
            "newest_end_time": self.state.load().get("watermark"),
        }  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._bg.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._bg.stop(timeout)
        self.fetcher.close()

    def _loop(self) -> None:
        self._set(running=True)
        try:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except Exception as e:  # noqa: BLE001 - a source keeps running; the error is shown in status
                    log.exception("zuul poll failed")
                    self._error(f"poll: {type(e).__name__}: {e}")
                self._stop.wait(self.s.poll_interval_s)
        finally:
            self._set(running=False)

    # -- status ----------------------------------------------------------------------------

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._status.update(kw)

    def _add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                self._status[k] += v

    def _error(self, msg: str) -> None:
        log.warning("zuul: %s", msg)
        with self._lock:
            self._status["errors"] += 1
            self._status["last_error"] = msg

    def status(self) -> dict[str, Any]:
        """For ``/status``: last poll, builds seen and ingested, errors, lag (seconds
        between now and the end of the newest build handled)."""
        with self._lock:
            st = dict(self._status)
        newest = build_fields.parse_time(st.get("newest_end_time"))
        st["lag_s"] = round(time.time() - newest / 1e6, 1) if newest else None
        st["requests"] = self.fetcher.requests
        st["retries"] = self.fetcher.retried
        return st

    # -- one poll --------------------------------------------------------------------------

    def poll_once(self) -> PollReport:
        """Read new finished builds and handle them, oldest first; saves progress after
        every batch, so an interrupted poll resumes where it stopped."""
        t0 = time.time()
        report = PollReport()
        state = self.state.load()
        try:
            records = self._new_records(state, report)
        except httpx.HTTPError as e:
            raise RuntimeError(str(e)) from None
        report.new = len(records)
        batch = max(1, self.s.concurrency * 2)
        for i in range(0, len(records), batch):
            if self._stop.is_set():
                break
            self._handle(records[i : i + batch], state, report)
        self._add(polls=1, builds_seen=report.builds_seen)
        self._set(last_poll=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
                  last_poll_s=round(time.time() - t0, 3), last_ok=not report.errors)  # fmt: skip
        return report

    def _new_records(self, state: dict[str, Any], report: PollReport) -> list[dict[str, Any]]:
        """Builds not handled yet, oldest first. Pages go back in start order until they
        are older than the newest handled end time minus the overlap."""
        watermark = str(state.get("watermark") or "")
        floor = _shift(watermark, -self.s.overlap_s) if watermark else ""
        seen = state.get("seen") or {}
        out: dict[str, dict[str, Any]] = {}
        first_run = not watermark
        for page in range(self.s.max_pages):
            recs = self.fetcher.get_json(
                self.s.builds_url,
                {"complete": "true", "limit": self.s.page_size, "skip": page * self.s.page_size},
            )
            if not isinstance(recs, list):
                raise RuntimeError(f"{self.s.builds_url}: expected a list of builds")
            recs = [r for r in recs if isinstance(r, dict) and r.get("uuid")]
            report.builds_seen += len(recs)
            for r in recs:
                if r["uuid"] in seen or r["uuid"] in out:
                    continue
                if floor and end_time(r) < floor:
                    continue
                if r.get("result") is None:
                    continue  # not finished after all
                out[r["uuid"]] = r
            if len(recs) < self.s.page_size:
                break  # the last page
            if first_run:
                if len(out) >= self.s.backfill:
                    break
            elif min(_start_or_end(r) for r in recs) < floor:
                break  # every further page started before anything new could end
        records = sorted(out.values(), key=lambda r: (end_time(r), r["uuid"]))
        if first_run:
            records = records[-self.s.backfill :] if self.s.backfill > 0 else []
        return records

    def _handle(
        self, records: list[dict[str, Any]], state: dict[str, Any], report: PollReport
    ) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="zuul-", dir=self._tmp_root()))
        try:
            dirs: list[Path] = []
            done: list[dict[str, Any]] = []
            for rec in records:
                try:
                    d = self._fetch_build(rec, tmp, report)
                except (FetchError, OSError) as e:
                    self._error(f"{rec['uuid']}: {e}")
                    report.errors.append(f"{rec['uuid']}: {e}")
                    if self._give_up(rec, state):
                        done.append(rec)
                    continue
                done.append(rec)
                if d is not None:
                    dirs.append(d)
            plan = ingest.plan(dirs, tenant=self.s.tenant) if dirs else []
            if plan:
                summary = self._ingest(plan)
                report.ingested += len(plan)
                self._add(builds_ingested=len(plan), files=summary.files, events=summary.events, bytes=summary.bytes)
                for path, why in summary.errors:
                    self._error(f"ingest {path}: {why}")
            for rec in done:
                if rec.get("log_url"):
                    self._after_ingest(rec, report)
            self._remember(done, state)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _give_up(self, rec: dict[str, Any], state: dict[str, Any]) -> bool:
        """A build whose logs cannot be fetched is retried by the next polls, a few times."""
        failures = state.setdefault("failures", {})
        failures[rec["uuid"]] = failures.get(rec["uuid"], 0) + 1
        if failures[rec["uuid"]] > self.s.retries:
            del failures[rec["uuid"]]
            return True
        return False

    def _tmp_root(self) -> Path:
        root = Path(self.cfg.data_dir) / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _fetch_build(self, rec: dict[str, Any], tmp: Path, report: PollReport) -> Path | None:
        """Download one build's listed files beside its ``build.json``; None if it has
        no logs (e.g. NODE_FAILURE), which is still recorded as a build."""
        rec = {**rec, "tenant": rec.get("tenant") or self.s.tenant}
        fields = build_fields.from_zuul(rec)
        fields.setdefault("build_short_uuid", rec["uuid"][:7])
        start = build_fields.parse_time(rec.get("start_time")) or build_fields.parse_time(
            rec.get("end_time")
        )
        log_url = rec.get("log_url")
        if not log_url:
            self.store.catalog.put_group(rec["uuid"], {**fields, "start_us": start}, complete=True)
            return None
        self.store.catalog.put_group(rec["uuid"], {**fields, "start_us": start}, complete=False)
        base = log_url if log_url.endswith("/") else log_url + "/"
        try:
            manifest = self.fetcher.get_json(urljoin(base, MANIFEST))
            paths = manifest_files(manifest if isinstance(manifest, dict) else {})
        except FetchError as e:
            if e.status != 404:
                raise
            paths = ["job-output.txt"]  # no manifest (older Zuul): the console log at least
            self._error(f"{rec['uuid']}: no {MANIFEST}, fetching job-output.txt only")
        wanted = [p for p in paths if self._wanted(p)]
        d = tmp / rec["uuid"]
        d.mkdir(parents=True)
        (d / "build.json").write_bytes(orjson.dumps(rec))

        def one(path: str) -> int:
            return self.fetcher.download(urljoin(base, quote(path, safe="/@:+~")), d / path)

        with ThreadPoolExecutor(max_workers=max(1, self.s.concurrency)) as pool:
            for fut in [pool.submit(one, p) for p in wanted]:
                try:
                    report.bytes += fut.result()
                    report.files += 1
                except FetchError as e:
                    self._error(f"{rec['uuid']}: {e}")
                    report.errors.append(str(e))
        return d

    def _wanted(self, path: str) -> bool:
        name = strip_compression(path)
        if name == "build.json" or name.rsplit("/", 1)[-1].lower().endswith(SKIP_SUFFIXES):
            return False
        return self.filelist.match(name)[0]

    def _ingest(self, plan: list[ingest.Build]) -> ingest.Summary:
        if self.cfg.backend != "local":  # to the cluster (bulk, retried on 429)
            from ..backend.writer import ingest_remote

            return ingest_remote(self.cfg, plan)
        if self.submit is None:
            return ingest.ingest(self.store, self.cfg, plan, progress=False)
        store, cfg = self.store, self.cfg
        fut = self.submit(lambda w: ingest.ingest(store, cfg, plan, writer=w, progress=False))
        return fut.result(timeout=3600)  # type: ignore[no-any-return]

    def _after_ingest(self, rec: dict[str, Any], report: PollReport) -> None:
        if not (
            self.s.classify
            and self.engine is not None
            and rec.get("result") in ("FAILURE", "POST_FAILURE", "TIMED_OUT")
        ):
            return
        c = self.engine.classify(rec["uuid"])
        report.classified[rec["uuid"]] = c.bugs
        self._add(classified=1)
        if self.s.notify and self.notifier is not None and c.matches:
            res = self.notifier.notify(c)
            if res.deliveries and res.ok:
                report.notified += 1
                self._add(notified=1)
            for d in res.deliveries:
                if d.error:
                    self._error(f"notify {d.target} for {rec['uuid']}: {d.error}")

    def _remember(self, records: list[dict[str, Any]], state: dict[str, Any]) -> None:
        seen: dict[str, str] = dict(state.get("seen") or {})
        for r in records:
            seen[r["uuid"]] = end_time(r)
        watermark = max([str(state.get("watermark") or ""), *(end_time(r) for r in records)])
        floor = _shift(watermark, -self.s.overlap_s) if watermark else ""
        state["seen"] = {u: t for u, t in seen.items() if t >= floor}
        state["watermark"] = watermark
        state["url"], state["tenant"] = self.s.url, self.s.tenant
        self.state.save(state)
        self._set(newest_end_time=watermark)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "default"


def start_from_services(services: Any) -> ZuulPoller | None:
    """Startup hook for ``appliance serve``: poll when ``zuul_url`` and ``zuul_tenant``
    are set, ingesting through the process's one writer and classifying with its engine."""
    cfg = services.config
    if not cfg.zuul_url or not (cfg.zuul_tenant or cfg.tenant):
        return None
    from ..recheck.engine import engine_for
    from ..recheck.notify import Notifier

    settings = ZuulSettings.from_config(cfg)
    poller = ZuulPoller(
        cfg, services.store, settings=settings, submit=services.ingest.submit,
        engine=engine_for(services), notifier=Notifier.from_config(cfg) if settings.notify else None,
    )  # fmt: skip
    services.extras["zuul"] = poller
    poller.start()
    return poller
