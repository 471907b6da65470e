"""``/status`` (what the appliance holds and what its sources do) and ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appliance import stats

from ..metrics import REQUEST_LATENCY
from ..services import Services, services


def collect_status(svc: Services) -> dict[str, Any]:
    info = stats.collect(svc.store)
    newest = svc.store.catalog._one("SELECT max(last_ts) FROM sources WHERE state='done'")
    newest_us = newest[0] if newest and newest[0] else None
    info["newest_event_us"] = newest_us
    info["lag_s"] = round(time.time() - newest_us / 1e6, 1) if newest_us else None
    ing = svc.extras.get("ingest")
    info["writer"] = (
        {"running": ing.running, "queue_depth": ing.queue_depth, "commits": ing.commits,
         "jobs_done": ing.jobs_done, "last_commit_at": ing.last_commit_at}  # fmt: skip
        if ing is not None
        else {"running": False}
    )
    info["live_sources"] = [obj.status() for name, obj in svc.extras.items() if name != "ingest" and hasattr(obj, "status")]
    return info


async def status(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(collect_status, services(request)))


class _Collector:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self):  # noqa: ANN201 - prometheus protocol
        info = collect_status(self.svc)
        g = GaugeMetricFamily("appliance_events", "Events in the index", labels=["day"])
        for d in info["days"]:
            g.add_metric([d["day"]], d.get("events", 0))
        yield g
        yield GaugeMetricFamily("appliance_partitions", "Day partitions", value=len(info["days"]))
        yield GaugeMetricFamily("appliance_broken_partitions", "Partitions that failed to open",
                                value=len(info["broken_partitions"]))  # fmt: skip
        disk = GaugeMetricFamily("appliance_disk_bytes", "Bytes on disk", labels=["part"])
        for k, v in info["disk"].items():
            disk.add_metric([k], v)
        yield disk
        yield GaugeMetricFamily("appliance_disk_free_bytes", "Free bytes on the data disk", value=info["disk_free"])
        yield GaugeMetricFamily("appliance_raw_bytes", "Raw log bytes ingested", value=info["raw_bytes"])
        yield GaugeMetricFamily("appliance_sources", "Source files ingested", value=info["sources"])
        yield GaugeMetricFamily("appliance_ingest_lag_seconds", "Now minus the newest event time",
                                value=info["lag_s"] or 0)  # fmt: skip
        yield GaugeMetricFamily("appliance_writer_queue_depth", "Jobs waiting for the writer",
                                value=info["writer"].get("queue_depth", 0))  # fmt: skip
        for key in ("events", "bytes", "ingested", "failed"):
            g = GaugeMetricFamily(f"appliance_source_{key}", f"{key} handled by a live source", labels=["source"])
            for src in info["live_sources"]:
                value = src.get(key, src.get(f"builds_{key}"))  # the Zuul poller counts builds
                if isinstance(value, int):
                    g.add_metric([str(src.get("source"))], value)
            yield g


async def metrics(request: Request) -> Response:
    svc = services(request)
    registry = svc.extras.get("_metrics_registry")
    if registry is None:
        registry = CollectorRegistry()
        registry.register(_Collector(svc))
        registry.register(REQUEST_LATENCY)
        svc.extras["_metrics_registry"] = registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/status", status), Route("/metrics", metrics)]
