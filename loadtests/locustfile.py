"""The realistic mix: developers in the web UI and bots on the APIs (issues 5 and 6).

Run it through ``python -m loadtests.run`` (sets up a server and writes the report), or by
hand against a local server only::

    locust -f loadtests/locustfile.py --headless -u 20 -r 5 -t 60s --host http://127.0.0.1:8080

Developers (3 of 4 users) run Discover queries taken from the real elastic-recheck
signatures (``$LT_QUERIES_DIR``, default ``../shared/recheck-queries``; built-in queries if
absent) with Kibana's time ranges, fetch the histogram and sidebar (``/discover.json``),
open hits' context and whole logs, and the recheck pages. Bots (1 of 4) classify builds
(``/api/recheck/builds/{uuid}``), and when the Elasticsearch API answers, ``_search`` with a
``query_string`` and a ``date_histogram`` and ``_bulk`` small batches with the token
(``$LT_TOKEN``). Request names are grouped per endpoint. The log viewer is timed twice:
``/logs [first bytes]`` (request to the first body byte, the issue's target) and
``/logs [full page]`` (request type ``FULL``: not a second request).

Bounded: only loopback hosts are accepted, and the run quits by itself after
``$LT_MAX_REQUESTS`` requests (default 200000) besides locust's ``--run-time``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import Runner

REPO = Path(__file__).resolve().parents[1]
QUERIES_DIR = Path(os.environ.get("LT_QUERIES_DIR", REPO.parent / "shared" / "recheck-queries"))
TOKEN = os.environ.get("LT_TOKEN", "")
MAX_REQUESTS = int(os.environ.get("LT_MAX_REQUESTS", "200000"))
WAIT = (float(os.environ.get("LT_WAIT_MIN", "1")), float(os.environ.get("LT_WAIT_MAX", "3")))
ES_MODE = os.environ.get("LT_ES", "auto")  # auto: use the ES API if it answers; on; off
BULK = os.environ.get("LT_BULK", "1") not in ("0", "off", "false")
"""Off for read-only servers (several web processes: only one may hold the write lock)."""
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

BUILTIN_QUERIES = [
    'message:"Timed out waiting for a reply"',
    'message:"No valid host was found"',
    "loglevel:ERROR",
    'loglevel:ERROR AND build_status:FAILURE',
    'message:"Connection refused" AND tags:"screen-n-cpu.txt"',
    'message:"Traceback (most recent call last)"',
    "message:timeout AND NOT build_status:SUCCESS",
    'tags:"syslog.txt" AND message:"oom-killer"',
    "*",
]
TIME_RANGES = [("now-24h", 6), ("now-1h", 1), ("now-7d", 2), ("now-10d", 2)]
"""Kibana's quick ranges as people use them: mostly the default last 24 hours."""
BULK_LINES = [
    "INFO nova.compute.manager [req-{r}] Took {n}.{m} seconds to spawn the instance on the hypervisor.",
    "DEBUG oslo_concurrency.lockutils [-] Lock \"compute_resources\" acquired by \"update\" :: waited 0.00{m}s",
    "WARNING nova.virt.libvirt.driver [req-{r}] Timeout waiting for vif plugging callback for instance {n}",
    "ERROR nova.compute.manager [req-{r}] Instance failed to spawn: MessagingTimeout: Timed out waiting for a reply",
]


# -- what the users pick from ---------------------------------------------------------------


def load_queries(directory: Path = QUERIES_DIR) -> list[str]:
    """The ``query`` of every elastic-recheck signature, whitespace folded; or built-ins."""
    out = []
    for p in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        try:
            doc = yaml.safe_load(p.read_text(errors="replace"))
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("query"), str):
            out.append(" ".join(doc["query"].split()))
    return out or list(BUILTIN_QUERIES)


class Pool:
    """Real targets, read from the server once at start: hits, builds, log files."""

    queries: list[str] = load_queries()
    logs: list[str] = []
    events_: list[str] = []
    builds: list[str] = []
    failed: list[str] = []
    es: bool = False
    requests = itertools.count()


def _pick_time() -> str:
    return random.choices([t for t, _ in TIME_RANGES], [w for _, w in TIME_RANGES])[0]


def _discover_params(size: int = 50) -> dict[str, str]:
    p = {"q": random.choice(Pool.queries), "from": _pick_time(), "size": str(size)}
    if random.random() < 0.15:
        p["page"] = "2"
    if random.random() < 0.1:
        p["sort"] = "asc"
    return p


@events.test_start.add_listener
def _discover_targets(environment: Environment, **_: Any) -> None:
    """Collect real log files, event ids and builds from the server (loopback only)."""
    import httpx

    host = environment.host or ""
    if urlsplit(host).hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"load tests target loopback only, not {host!r}")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    windows = [{"q": "*", "from": f"now-{i + 1}d", "to": f"now-{i}d", "size": "100"} for i in range(14)]
    windows += [{"q": q, "from": "0", "size": "200"} for q in ("loglevel:ERROR", "build_status:FAILURE")]
    with httpx.Client(base_url=host, timeout=60) as c:
        for params in windows:
            r = c.get("/discover.json", params=params)
            r.raise_for_status()
            for h in r.json().get("hits", []):
                uuid, fn = h.get("build_uuid"), h.get("filename")
                if uuid and fn:
                    Pool.logs.append(f"/logs/{quote(uuid, safe='')}/{quote(fn)}")
                    Pool.builds.append(uuid)
                    if h.get("build_status") == "FAILURE":
                        Pool.failed.append(uuid)
                if h.get("_id"):
                    Pool.events_.append(str(h["_id"]))
        Pool.logs = [u for u in sorted(set(Pool.logs)) if _opens(c, u)]
        Pool.builds = sorted(set(Pool.builds))
        Pool.failed = sorted(set(Pool.failed)) or Pool.builds
        if ES_MODE == "on":
            Pool.es = True
        elif ES_MODE == "auto":
            r = c.post("/_search", json={"size": 0, "query": {"match_all": {}}})
            Pool.es = r.status_code == 200
    if not Pool.logs:
        raise SystemExit("the server has no events: ingest a corpus first")
    print(f"loadtest targets: {len(Pool.queries)} queries, {len(Pool.logs)} log files, {len(Pool.builds)} builds,"
          f" ES API {'on' if Pool.es else 'off'}", flush=True)  # fmt: skip


def _opens(c: Any, url: str) -> bool:
    """Whether the log viewer has this file (``_bulk`` events link to files it has not)."""
    with c.stream("GET", url) as r:
        return r.status_code == 200


@events.request.add_listener
def _cap(**_: Any) -> None:
    """Quit after MAX_REQUESTS requests, whatever --run-time says."""
    if next(Pool.requests) == MAX_REQUESTS and _RUNNER is not None:
        _RUNNER.quit()


_RUNNER: Runner | None = None


@events.init.add_listener
def _keep_runner(environment: Environment, **_: Any) -> None:
    global _RUNNER
    _RUNNER = environment.runner


# -- users --------------------------------------------------------------------------------------


class Developer(FastHttpUser):
    """A developer debugging a failed build in the browser."""

    weight = 3
    wait_time = between(*WAIT)
    network_timeout = 60.0
    connection_timeout = 10.0

    @task(6)
    def discover_page(self) -> None:
        self.client.get("/discover?" + urlencode(_discover_params()), name="/discover")

    @task(4)
    def discover_json(self) -> None:
        """The histogram and sidebar (the page's JSON twin carries both)."""
        self.client.get("/discover.json?" + urlencode(_discover_params()), name="/discover.json")

    @task(2)
    def context_lines(self) -> None:
        if Pool.events_:
            eid = random.choice(Pool.events_)
            self.client.get(f"/context/{quote(eid)}.json?n=20", name="/context/{event}.json")

    @task(4)
    def log_view(self) -> None:
        view_log(self, random.choice(Pool.logs))

    @task(1)
    def raw(self) -> None:
        self.client.get(random.choice(Pool.logs).replace("/logs/", "/raw/", 1), name="/raw/{build}/{file}")

    @task(2)
    def recheck(self) -> None:
        self.client.get("/recheck", name="/recheck")

    @task(1)
    def uncategorized(self) -> None:
        self.client.get("/recheck/uncategorized", name="/recheck/uncategorized")

    @task(2)
    def recheck_build(self) -> None:
        self.client.get(f"/recheck/builds/{random.choice(Pool.failed)}", name="/recheck/builds/{uuid}")

    @task(1)
    def complete(self) -> None:
        field, prefix = random.choice([("build_name", "t"), ("tags", "s"), ("loglevel", ""), ("project", "openstack/")])
        self.client.get("/api/values?" + urlencode({"field": field, "prefix": prefix}), name="/api/values")


def view_log(user: FastHttpUser, path: str) -> None:
    """Time to the first body byte (the target) and to the last (reported as FULL)."""
    t0 = time.perf_counter()
    with user.client.get(path, name="/logs [first bytes]", stream=True, catch_response=True) as r:
        if r.status_code != 200:
            r.failure(f"HTTP {r.status_code}")
            return
        first = next(r.iter_content(1, decode_content=False), b"")
        t1 = time.perf_counter()
        size = len(first) + sum(len(c) for c in r.iter_content(65536, decode_content=False))
        t2 = time.perf_counter()
        r.request_meta["response_time"] = (t1 - t0) * 1000
        r.request_meta["response_length"] = size
        if not first:
            r.failure("empty body")
    user.environment.events.request.fire(
        request_type="FULL", name="/logs [full page]", response_time=(t2 - t0) * 1000,
        response_length=size, exception=None, context={}, url=path,
    )  # fmt: skip


class Bot(FastHttpUser):
    """A CI bot and a log shipper: recheck classification, the Elasticsearch API."""

    weight = 1
    wait_time = between(*WAIT)
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.build = f"{random.getrandbits(128):032x}"
        self.seq = 0

    @task(3)
    def classify(self) -> None:
        self.client.get(f"/api/recheck/builds/{random.choice(Pool.failed)}", name="/api/recheck/builds/{uuid}")

    @task(3)
    def search(self) -> None:
        if not Pool.es:
            self.client.get("/discover.json?" + urlencode(_discover_params(size=20)), name="/discover.json")
            return
        body = {
            "size": 20,
            "sort": [{"@timestamp": {"order": "desc"}}],
            "query": {"bool": {
                "must": [{"query_string": {"query": random.choice(Pool.queries), "default_field": "message"}}],
                "filter": [{"range": {"@timestamp": {"gte": _pick_time(), "lte": "now"}}}],
            }},
            "aggs": {"over_time": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}},
        }  # fmt: skip
        self.client.post("/logstash-*/_search", json=body, name="/_search")

    @task(2)
    def bulk(self) -> None:
        if not Pool.es or not BULK:
            return
        now = datetime.now(UTC)
        lines = []
        for _ in range(20):
            self.seq += 1
            msg = random.choice(BULK_LINES).format(r=self.seq, n=self.seq % 997, m=self.seq % 10)
            lines.append(json.dumps({"index": {"_index": now.strftime("logstash-%Y.%m.%d")}}))
            lines.append(json.dumps({
                "@timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "message": msg,
                "build_uuid": self.build, "build_name": "loadtest-shipper", "build_status": "SUCCESS",
                "filename": "job-output.txt", "tags": ["job-output.txt", "console"],
            }))  # fmt: skip
        headers = {"Content-Type": "application/x-ndjson"}
        if TOKEN:
            headers["Authorization"] = f"Bearer {TOKEN}"
        with self.client.post("/_bulk", data="\n".join(lines) + "\n", headers=headers, name="/_bulk",
                              catch_response=True) as r:  # fmt: skip
            if r.status_code == 429:  # back-pressure is the contract, not an error
                r.request_meta["name"] = "/_bulk [429 busy]"
                r.success()
            elif r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif (r.json() or {}).get("errors"):
                r.failure("errors: true")
