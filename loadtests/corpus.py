"""The benchmark corpus: the real os-loganalyze logs replayed as any number of CI builds.

Why: benchmarks need gigabytes of logs that look like production — real line lengths,
real tracebacks, real formats — spread over days and builds, with known failures to find.
The 235k real lines of ``/work/shared/corpus/os-loganalyze`` are replayed as build
directories in the ingest layout (``build.json`` beside an OpenDev-style log tree): each
build takes the files of its job, each file renamed to its OpenDev path and — for small
line budgets — cut to a window, with every timestamp shifted so the file starts a little
after the build's start. Failing builds get lines that match real elastic-recheck
signatures (:data:`REAL_INJECTIONS`) and the demo's known bugs
(:data:`appliance.demo.KNOWN_BUGS`); ``manifest.jsonl`` says which went where.

Speed (the point of the design): a source file is parsed once into two lists, the
fixed-width timestamp prefix of each line (``YYYY-MM-DD HH:MM:SS`` or ``Mon dd HH:MM:SS``,
``b""`` when the line has none) and the rest. Shifts are whole seconds, so fractions never
change; a build maps each *distinct* prefix of its window once (a few thousand per file)
and the output is one ``b"".join`` over C-level ``map``/``zip`` — no per-line Python code.
Builds are written by a process pool (forked, so the parsed corpus is shared).

Run ``python -m loadtests.corpus --out DIR --lines 10000000``; ``--help`` lists options.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import dataclasses
import gzip
import html
import json
import math
import multiprocessing as mp
import os
import random
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from appliance import demo

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "os-loganalyze"
MONTHS = demo.MONTHS
_MONTH_NO = {m.encode(): i + 1 for i, m in enumerate(MONTHS)}
_YEARLESS = 2016
"""Year assumed for syslog/journal source timestamps (a leap year parses any date; only
differences matter)."""


# -- the corpus files and where they go -----------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    key: str
    name: str
    """File name in the source directory."""
    dest: str
    """OpenDev path in the build."""
    fmt: str
    """``console`` (``ts | msg``), ``oslo``, ``syslog`` or ``journal``."""
    offset: tuple[int, int]
    """Seconds after the build's start at which the file's first timestamp lands."""


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("console", "console.html.gz", "job-output.txt", "console", (1, 5)),
    SourceSpec("devstack", "devstacklog.txt.gz", "controller/logs/devstacklog.txt", "console", (120, 300)),
    SourceSpec("syslog", "syslog.txt.gz", "controller/logs/syslog.txt", "syslog", (20, 60)),
    SourceSpec("n-api", "screen-n-api.txt.gz", "controller/logs/screen-n-api.txt", "oslo", (900, 1500)),
    SourceSpec("n-api-2", "screen-n-api-2.txt.gz", "controller/logs/screen-n-api.txt", "oslo", (900, 1500)),
    SourceSpec("q-svc", "screen-q-svc.txt.gz", "controller/logs/screen-q-svc.txt", "oslo", (900, 1500)),
    SourceSpec("q-l3", "screen-neutron-l3.txt.gz", "controller/logs/screen-q-l3.txt", "oslo", (900, 1500)),
    SourceSpec("c-api", "screen-c-api.txt.gz", "controller/logs/screen-c-api.txt", "oslo", (900, 1500)),
    SourceSpec("c-api-journal", "devstack@c-api.service.log.txt",
               "controller/logs/devstack@c-api.service.log.txt", "journal", (900, 1500)),
    SourceSpec("c-vol-journal", "devstack@c-vol.service.log.txt",
               "controller/logs/devstack@c-vol.service.log.txt", "journal", (900, 1500)),
)  # fmt: skip
_SPEC = {s.key: s for s in SOURCES}
N_SCH = "controller/logs/screen-n-sch.txt"
N_CPU = "controller/logs/screen-n-cpu.txt"


@dataclass(frozen=True)
class CorpusJob:
    name: str
    projects: tuple[str, ...]
    sources: tuple[str, ...]
    voting: bool = True
    tempest: bool = True
    stubs: tuple[str, ...] = ()
    """Files the corpus lacks (``screen-n-sch``, ``screen-n-cpu``) that a failing build of
    this job may gain as a short synthetic file carrying an injected demo bug."""


JOB_TABLE: tuple[CorpusJob, ...] = (
    CorpusJob("tempest-full-py3", ("openstack/nova", "openstack/tempest", "openstack/glance"),
              ("console", "devstack", "n-api", "q-svc", "c-api", "syslog", "c-api-journal"), stubs=(N_SCH, N_CPU)),
    CorpusJob("neutron-tempest-plugin-openvswitch", ("openstack/neutron", "openstack/neutron-tempest-plugin"),
              ("console", "devstack", "q-svc", "q-l3", "syslog")),
    CorpusJob("openstack-tox-py311", ("openstack/nova", "openstack/neutron", "openstack/cinder", "openstack/oslo.log"),
              ("console",), tempest=False),
    CorpusJob("cinder-tempest-plugin-lvm-lio-barbican", ("openstack/cinder", "openstack/os-brick"),
              ("console", "devstack", "c-api", "c-api-journal", "c-vol-journal", "syslog")),
    CorpusJob("nova-multi-cell", ("openstack/nova",), ("console", "devstack", "n-api-2", "syslog"), voting=False,
              stubs=(N_SCH, N_CPU)),
    CorpusJob("grenade", ("openstack/nova", "openstack/keystone", "openstack/cinder"),
              ("console", "devstack", "n-api", "c-api", "syslog"), stubs=(N_SCH, N_CPU)),
    CorpusJob("neutron-ovn-tempest-ovs-release", ("openstack/neutron",), ("console", "q-svc", "syslog"), voting=False),
    CorpusJob("tempest-integrated-storage", ("openstack/cinder", "openstack/glance"),
              ("console", "devstack", "c-api", "c-vol-journal", "syslog")),
    CorpusJob("nova-live-migration", ("openstack/nova",), ("console", "n-api-2", "syslog"), stubs=(N_CPU,)),
    CorpusJob("openstack-tox-pep8", ("openstack/nova", "openstack/neutron", "openstack/keystone"), ("console",),
              tempest=False),
)  # fmt: skip


def jobs_for(n: int) -> list[CorpusJob]:
    """The first ``n`` jobs of :data:`JOB_TABLE`, then numbered variants of them."""
    out = list(JOB_TABLE[:n])
    k = 2
    while len(out) < n:
        for j in JOB_TABLE[: n - len(out)]:
            out.append(CorpusJob(f"{j.name}-{k}", j.projects, j.sources, j.voting, j.tempest, j.stubs))
        k += 1
    return out


# -- injected failures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """Lines that match one signature, as the text after the timestamp in ``fmt``.

    ``console``: after ``ts | ``; ``oslo``: after ``ts ``; ``syslog``/``journal``: after
    ``ts host ``. Placeholders as in :class:`appliance.demo.KnownBug`."""

    bug: int
    dest: str
    fmt: str
    lines: tuple[str, ...]
    tempest: bool = False
    """Only in jobs that run tempest."""
    allow_nonvoting: bool = False
    origin: str = "real"


_CTX = "[req-{req} tempest-{test}-{n} tempest-{test}-{n}]"
REAL_INJECTIONS: tuple[Injection, ...] = (
    Injection(1384373, "job-output.txt", "console", (
        "+ git fetch https://opendev.org/openstack/requirements refs/changes/12/912345/2",
        "fatal: Could not read from remote repository.",
        "Please make sure you have the correct access rights and the repository exists.")),
    Injection(1400905, "job-output.txt", "console", (
        "E: Failed to fetch http://mirror.dfw.rax.opendev.org/ubuntu/dists/jammy-updates/main/binary-amd64/"
        "Packages.gz  Hash Sum mismatch",
        "E: Some index files failed to download. They have been ignored, or old ones used instead.")),
    Injection(1449136, "job-output.txt", "console", (
        "ERROR: Could not find a version that satisfies the requirement oslo.messaging>=14.1.0 (from versions: none)",
        "ERROR: No matching distribution found for oslo.messaging>=14.1.0")),
    Injection(1686542, "job-output.txt", "console", (
        "RUN END RESULT_TIMED_OUT: [untrusted : opendev.org/openstack/tempest/playbooks/devstack-tempest.yaml@master]",),
        tempest=True),
    Injection(1763070, "job-output.txt", "console", (
        "urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool(host='mirror.example.org', port=443): "
        "Read timed out. (read timeout=15)",)),
    Injection(1806912, "job-output.txt", "console", (
        "[ERROR] /opt/stack/devstack/lib/cinder:552 c-api did not start",), tempest=True),
    Injection(1848078, "job-output.txt", "console", (
        "Sending discover...", "Usage: /sbin/cirros-dhcpc <up|down>", "No lease, failing"), tempest=True),
    Injection(1810054, "job-output.txt", "console", (
        'fatal: [subnode-2]: UNREACHABLE! => {{"changed": false, "msg": "Failed to connect to the host via ssh: '
        'ssh: connect to host 192.0.2.11 port 22: No route to host", "unreachable": true}}',)),
    Injection(1775947, "job-output.txt", "console", (
        "    tempest.lib.exceptions.TimeoutException: Request timed out",
        "    Details: Timeout while verifying metadata on server."), tempest=True),
    Injection(1796151, "controller/logs/syslog.txt", "syslog", (
        "kernel: [{uptime}] mysqld invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0",
        "kernel: [{uptime}] mysqld cpuset=/ mems_allowed=0")),
    Injection(1763712, "controller/logs/screen-c-api.txt", "oslo", (
        "{pid} ERROR cinder.api.v3.attachments " + _CTX + " Unable to update the attachment.: MessagingTimeout: "
        "Timed out waiting for a reply to message ID {hex}",)),
    Injection(1810526, "controller/logs/screen-c-api.txt", "oslo", (
        "{pid} ERROR cinder.volume.api " + _CTX + " tooz.coordination.ToozConnectionError: Service Unavailable",)),
    Injection(1826000, "controller/logs/screen-c-api.txt", "oslo", (
        "{pid} ERROR cinder.api.middleware.fault " + _CTX + " Caught error: <class "
        "'sqlalchemy.orm.exc.DetachedInstanceError'> Parent instance <VolumeAttachment at 0x7f3b2c1d5e10> is not "
        "bound to a Session; lazy load operation of attribute 'volume' cannot proceed",)),
    Injection(1836754, "controller/logs/screen-n-api.txt", "oslo", (
        "{pid} ERROR nova.scheduler.client.report " + _CTX + " [req-{req}] Unable to delete allocation for instance "
        '{uuid}: (409 {{"errors": [{{"status": 409, "title": "Conflict", "detail": "There was a conflict when trying '
        'to complete your request.  consumer generation conflict", "code": "placement.concurrent_update", '
        '"request_id": "req-{req}"}}]}})',)),
)  # fmt: skip
"""Lines matching real signatures of elastic-recheck's ``queries/`` (simple phrases plus a
tag): each was checked against its query's tokens (see the tests)."""

_DEMO_FMT = {"job-output": "console", "oslo": "oslo", "syslog": "syslog", "journal": "journal"}
DEMO_INJECTIONS: tuple[Injection, ...] = tuple(
    Injection(b.number, b.filename, _DEMO_FMT[b.fmt], b.lines, tempest=b.fmt == "job-output",
              allow_nonvoting=b.allow_nonvoting, origin="demo")
    for b in demo.KNOWN_BUGS.values()
)  # fmt: skip
INJECTIONS = REAL_INJECTIONS + DEMO_INJECTIONS


# -- loading the corpus ---------------------------------------------------------------------

_ISO = re.compile(rb"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)[. ]")
_SYS = re.compile(rb"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d)[. ]")
_TAG = re.compile(r"<[^>]*>")
_PREFIX_LEN = {"console": 19, "oslo": 19, "syslog": 15, "journal": 15}


@dataclass
class Source:
    """One corpus file, split once into timestamp prefixes and the rest of each line."""

    spec: SourceSpec
    pre: list[bytes]
    rest: list[bytes]
    ts_idx: list[int]
    """Indices of the lines that carry a timestamp."""
    epoch: dict[bytes, int]
    """Prefix -> seconds since the epoch (yearless formats in :data:`_YEARLESS`)."""
    inner: list[bytes] | None = None
    """Console files only: a second timestamp at the start of the message (devstack-gate's
    ``ts | 2013-09-27 18:15:31 msg``), shifted like the prefix; ``rest`` then holds the part
    before it and ``tail`` the part after."""
    tail: list[bytes] | None = None

    @property
    def span(self) -> int:
        return max(self.epoch.values()) - min(self.epoch.values()) if self.epoch else 0


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _strip_html(lines: list[bytes]) -> list[bytes]:
    """Jenkins' console.html -> plain ``ts | msg`` (tags dropped, entities unescaped)."""
    out = []
    for line in lines:
        if line.strip() in (b"<pre>", b"</pre>"):
            continue
        if b"<" in line or b"&" in line:
            text = line.decode("utf-8", "surrogateescape")
            line = html.unescape(_TAG.sub("", text)).encode("utf-8", "surrogateescape")
        out.append(line)
    return out


def load_source(spec: SourceSpec, directory: Path) -> Source:
    lines = _read(directory / spec.name).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if spec.name.endswith(".html.gz") or spec.name.endswith(".html"):
        lines = _strip_html(lines)
    n = _PREFIX_LEN[spec.fmt]
    rx = _ISO if n == 19 else _SYS
    pre: list[bytes] = []
    rest: list[bytes] = []
    ts_idx: list[int] = []
    epoch: dict[bytes, int] = {}
    for i, line in enumerate(lines):
        m = rx.match(line)
        if m is None:
            pre.append(b"")
            rest.append(line + b"\n")
            continue
        key = line[:n]
        if key not in epoch:
            g = m.groups()
            if n == 19:
                epoch[key] = calendar.timegm((int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5])))
            else:
                epoch[key] = calendar.timegm((_YEARLESS, _MONTH_NO[g[0]], int(g[1]), int(g[2]), int(g[3]), int(g[4])))
        pre.append(key)
        rest.append(line[n:] + b"\n")
        ts_idx.append(i)
    src = Source(spec, pre, rest, ts_idx, epoch)
    if spec.fmt == "console":
        _split_inner(src)
    return src


_INNER = re.compile(rb"(\.\d+ \| )((\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d))[. ]")


def _split_inner(src: Source) -> None:
    """Split out message-leading timestamps when most lines have one (a whole file's worth)."""
    head, inner, tail = [], [], []
    found = 0
    for r in src.rest:
        m = _INNER.match(r)
        if m is None:
            head.append(r)
            inner.append(b"")
            tail.append(b"")
            continue
        found += 1
        key = m[2]
        if key not in src.epoch:
            src.epoch[key] = calendar.timegm(tuple(int(x) for x in m.groups()[2:]))  # type: ignore[arg-type]
        head.append(r[: m.end(1)])
        inner.append(key)
        tail.append(r[m.end(2) :])
    if found:
        src.rest, src.inner, src.tail = head, inner, tail


def load_sources(directory: Path) -> dict[str, Source]:
    """Every corpus file present in ``directory`` (missing ones are simply not used)."""
    return {s.key: load_source(s, directory) for s in SOURCES if (directory / s.name).is_file()}


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilePlan:
    dest: str
    source: str | None
    """A :data:`SOURCES` key, or None for a stub file made of injected lines."""
    start: int = 0
    stop: int = 0
    offset: int = 0
    injections: tuple[tuple[int, float], ...] = ()
    """(index into :data:`INJECTIONS`, position in the window as a fraction)."""


@dataclass(frozen=True)
class BuildPlan:
    index: int
    uuid: str
    job: str
    project: str
    branch: str
    change: int
    patchset: int
    pipeline: str
    voting: bool
    status: str
    start: int
    """Seconds since the epoch."""
    label: str
    provider: tuple[str, str, str]
    host: str
    files: tuple[FilePlan, ...]
    zuul_shape: str


@dataclass
class Manifest:
    path: Path
    builds: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(b["lines"] for b in self.builds)

    @property
    def bytes(self) -> int:
        return sum(b["bytes"] for b in self.builds)

    def summary(self) -> str:
        failing = sum(b["status"] == "FAILURE" for b in self.builds)
        bugs = Counter(n for b in self.builds for n in b["bugs"])
        s = self.seconds or 1e-9
        return (
            f"{len(self.builds)} builds ({failing} failing), {sum(len(b['files']) for b in self.builds)} files, "
            f"{self.lines:,} lines, {self.bytes / 1e6:,.1f} MB in {self.seconds:.1f}s "
            f"({self.lines / s:,.0f} lines/s, {self.bytes / 1e6 / s:,.1f} MB/s); "
            f"{sum(bugs.values())} injected failures of {len(bugs)} bugs -> {self.path}"
        )


def plan_corpus(
    sources: dict[str, Source],
    *,
    lines: int | None,
    builds: int | None,
    days: float,
    jobs: int,
    seed: int,
    fail_rate: float,
    end: datetime,
) -> list[BuildPlan]:
    """Every build's job, fields, file windows and injections — cheap, deterministic.

    With ``lines`` the builds are filled until the total reaches it: each build gets
    ``lines / builds`` when both are given; with ``lines`` alone about a mean job's worth
    (so a large corpus has near-whole-file builds), and at least ``4 * jobs`` builds when
    that is possible with 400+ lines each (so a small one still has failing and passing
    builds of every job)."""
    if lines is None and builds is None:
        raise ValueError("give lines, builds or both")
    rng = random.Random(f"corpus-plan-{seed}")
    table = [j for j in jobs_for(jobs) if all(k in sources for k in j.sources)]
    if not table:
        raise ValueError("no job has all its files in the source directory")
    natural = {j.name: sum(len(sources[k].pre) for k in j.sources) for j in table}
    if builds is not None:
        count = builds
        budget = lines / builds if lines is not None else None
    else:
        assert lines is not None
        mean = sum(natural.values()) / len(natural)
        count = max(math.ceil(lines / mean), min(4 * len(table), max(1, lines // 400)))
        budget = lines / count
    # the longest a build of the job can last: its latest file offset + longest file + post-run
    max_dur = {j.name: max(_SPEC[k].offset[1] + sources[k].span for k in j.sources) + 600 for j in table}
    used: Counter[int] = Counter()
    out: list[BuildPlan] = []
    planned = 0
    i = 0
    while (builds is not None and i < builds) or (builds is None and planned < (lines or 0)):
        job = rng.choice(table)
        want = budget if builds is not None or lines is None else min(budget or 0, (lines or 0) - planned)
        files = _plan_files(rng, sources, job, want)
        status = "FAILURE" if rng.random() < fail_rate else "SUCCESS"
        pipeline = "gate" if job.voting and rng.random() < 0.3 else "check"
        if status == "FAILURE":
            files = _inject(rng, job, files, used)
        planned += sum(f.stop - f.start for f in files if f.source)
        out.append(
            BuildPlan(
                index=i, uuid=f"{rng.getrandbits(128):032x}", job=job.name, project=rng.choice(job.projects),
                branch="master" if rng.random() < 0.85 else "stable/2024.2", change=rng.randint(850000, 949999),
                patchset=rng.randint(1, 12), pipeline=pipeline, voting=job.voting, status=status, start=0,
                label=rng.choice(demo.LABELS), provider=rng.choice(demo.PROVIDERS),
                host=f"np00{rng.randint(36000000, 39999999)}", files=tuple(files),
                zuul_shape="v10" if rng.random() < 0.6 else "legacy",
            )
        )  # fmt: skip
        i += 1
    # spread the builds evenly over the span, each ending before ``end``
    end_s, span = int(end.timestamp()), int(days * 86400)
    timed = []
    for b in out:
        room = max(0, span - max_dur[b.job])
        start = end_s - span + int(room * (b.index + rng.random() * 0.8) / len(out))
        timed.append(dataclasses.replace(b, start=min(start, end_s - max_dur[b.job])))
    timed.sort(key=lambda b: (b.start, b.index))
    return timed


def _plan_files(rng: random.Random, sources: dict[str, Source], job: CorpusJob, budget: float | None) -> list[FilePlan]:
    total = sum(len(sources[k].pre) for k in job.sources)
    files = []
    for key in job.sources:
        src = sources[key]
        n = len(src.pre)
        take = n if budget is None or budget >= total else max(1, min(n, int(budget * n / total)))
        if take >= n:
            a = 0
        else:
            last = bisect.bisect_right(src.ts_idx, n - take)
            a = src.ts_idx[rng.randrange(last)] if last else 0
        files.append(FilePlan(src.spec.dest, key, a, a + take, rng.randint(*src.spec.offset)))
    return files


def _inject(rng: random.Random, job: CorpusJob, files: list[FilePlan], used: Counter[int]) -> list[FilePlan]:
    """Give a failing build 0-2 injected failures, least-used first (so all get used)."""
    dests = {f.dest for f in files}
    cands = [
        k for k, inj in enumerate(INJECTIONS)
        if (inj.dest in dests or inj.dest in job.stubs) and (job.tempest or not inj.tempest)
        and (job.voting or inj.allow_nonvoting)
    ]  # fmt: skip
    r = rng.random()
    want = 0 if r < 0.1 or not cands else (2 if r > 0.8 else 1)
    chosen: list[int] = []
    for _ in range(min(want, len(cands))):
        pool = [k for k in cands if k not in chosen and INJECTIONS[k].dest not in {INJECTIONS[c].dest for c in chosen}]
        if not pool:
            break
        low = min(used[k] for k in pool)
        k = rng.choice([k for k in pool if used[k] == low])
        chosen.append(k)
        used[k] += 1
    out = list(files)
    for k in chosen:
        inj = INJECTIONS[k]
        pos = (k, rng.uniform(0.4, 0.9))
        for j, f in enumerate(out):
            if f.dest == inj.dest:
                out[j] = FilePlan(f.dest, f.source, f.start, f.stop, f.offset, (*f.injections, pos))
                break
        else:
            out.append(FilePlan(inj.dest, None, injections=(pos,)))
    return out


# -- writing a build (runs in a worker) -----------------------------------------------------

_STATE: dict[str, Any] = {}
_FRAC = re.compile(rb"^\.\d+")
_JPID = re.compile(rb"\[(\d+)\]: ")


def _init(source_dir: str | None, out: str, gz: bool) -> None:
    if source_dir is not None:
        _STATE["sources"] = load_sources(Path(source_dir))
    _STATE["out"] = Path(out)
    _STATE["gzip"] = gz


def _iso(t: int) -> bytes:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)).encode()


def _sys(t: int) -> bytes:
    g = time.gmtime(t)
    return f"{MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}".encode()


def _values(rng: random.Random, host: str) -> dict[str, object]:
    test = rng.choice(demo.TEST_CLASSES)
    v: dict[str, object] = {
        "req": demo.random_uuid(rng), "uuid": demo.random_uuid(rng), "ip": f"172.24.5.{rng.randint(2, 250)}", "host": host,
        "test": test, "n": rng.randint(1000000, 9999999), "hex": f"{rng.getrandbits(128):032x}",
        "uptime": f"{rng.uniform(300, 9000):12.6f}",
    }  # fmt: skip
    v["ctx"] = demo.REQUEST_CONTEXT.format(**v)
    return v


def _render(inj: Injection, values: dict[str, object]) -> list[str]:
    return [x.format(**values) for x in inj.lines]


def _injected_rows(inj: Injection, key: bytes, neighbour: bytes, rng: random.Random, host: str) -> list[tuple[bytes, bytes]]:
    """(prefix, rest) rows for an injection placed at a neighbour line of the same format."""
    frac_m = _FRAC.match(neighbour)
    frac = frac_m.group() if frac_m else b""
    values = _values(rng, host)
    values["pid"] = str(rng.randint(2000, 30000))
    if inj.fmt == "oslo":  # the logging process's pid, as the neighbour line has it
        parts = neighbour[len(frac):].split(None, 1)
        if parts and parts[0].isdigit():
            values["pid"] = parts[0].decode()
    elif inj.fmt == "journal" and (m := _JPID.search(neighbour)) and m[1] != b"1":
        values["pid"] = m[1].decode()
    if inj.fmt in ("syslog", "journal"):
        parts = neighbour[len(frac):].split(None, 1)
        values["host"] = parts[0].decode(errors="replace") if parts else host
    rows = []
    for text in _render(inj, values):
        body = text.encode()
        if inj.fmt == "console":
            rest = frac + b" | " + body
        elif inj.fmt == "oslo":
            rest = frac + b" " + body
        else:
            rest = frac + b" " + str(values["host"]).encode() + b" " + body
        rows.append((key, rest + b"\n"))
    return rows


def _stub(b: BuildPlan, f: FilePlan, when: int, rng: random.Random) -> tuple[list[bytes], list[bytes]]:
    """A short file in the injection's format: a service start line, then the failure."""
    inj = INJECTIONS[f.injections[0][0]]
    pid = str(rng.randint(2000, 30000))
    if inj.fmt == "journal":
        key, frac = _sys(when), f".{rng.randint(0, 999999):06d}".encode()
        head = [f" {b.host} systemd[1]: Started devstack@n-cpu.service - Devstack devstack@n-cpu.service.",
                f" {b.host} nova-compute[{pid}]: INFO nova.service [-] Starting compute node (version 30.1.0)"]  # fmt: skip
    else:
        key, frac = _iso(when), f".{rng.randint(0, 999):03d}".encode()
        head = [f" {pid} INFO nova.service [-] Starting scheduler node (version 30.1.0)",
                f" {pid} INFO nova.scheduler.host_manager [-] Successfully synced instances from host '{b.host}'."]  # fmt: skip
    pre = [key] * len(head)
    rest = [frac + h.encode() + b"\n" for h in head]
    later = _iso(when + 1) if inj.fmt != "journal" else _sys(when + 1)
    for k, _ in f.injections:
        for p, r in _injected_rows(INJECTIONS[k], later, rest[-1], rng, b.host):
            pre.append(p)
            rest.append(r)
    return pre, rest


def write_build(b: BuildPlan) -> dict[str, Any]:
    """Write one build directory; returns its manifest entry."""
    sources: dict[str, Source] = _STATE["sources"]
    root: Path = _STATE["out"] / b.uuid
    gz: bool = _STATE["gzip"]
    rng = random.Random(f"corpus-build-{b.uuid}")
    entry_files: dict[str, int] = {}
    injected: dict[str, list[int]] = {}
    total_bytes = 0
    last = b.start + 60
    stubs = [f for f in b.files if f.source is None]
    for f in b.files:
        if f.source is None:
            continue
        src = sources[f.source]
        pre = src.pre[f.start : f.stop]
        rest = src.rest[f.start : f.stop]
        inner = src.inner[f.start : f.stop] if src.inner is not None else None
        tail = src.tail[f.start : f.stop] if src.tail is not None else None
        keys = set(pre)
        keys.discard(b"")
        if not keys:  # a window without timestamps (cannot happen for windows we plan)
            keys = {src.pre[src.ts_idx[0]]}
        ep = src.epoch
        lo = min(map(ep.__getitem__, keys))
        delta = b.start + f.offset - lo
        for k, frac in sorted(f.injections, key=lambda x: -x[1]):
            ts_rows = [i for i in range(len(pre)) if pre[i]] or [0]
            at = ts_rows[min(len(ts_rows) - 1, int(frac * len(ts_rows)))]
            key = pre[at] or src.pre[src.ts_idx[0]]
            rows = _injected_rows(INJECTIONS[k], key, rest[at] if pre[at] else b"", rng, b.host)
            pre[at:at] = [p for p, _ in rows]
            rest[at:at] = [r for _, r in rows]
            if inner is not None and tail is not None:
                inner[at:at] = tail[at:at] = [b""] * len(rows)
            keys.add(key)
            injected.setdefault(f.dest, []).append(INJECTIONS[k].bug)
        hi = max(map(ep.__getitem__, keys))
        shift = _iso if src.spec.fmt in ("console", "oslo") else _sys
        if inner is not None and tail is not None:
            keys.update(inner)
            keys.discard(b"")
        mapping = {k: shift(ep[k] + delta) for k in keys}
        mapping[b""] = b""
        get = mapping.__getitem__
        if inner is None or tail is None:
            data = b"".join(chain.from_iterable(zip(map(get, pre), rest, strict=True)))
        else:
            data = b"".join(chain.from_iterable(zip(map(get, pre), rest, map(get, inner), tail, strict=True)))
        total_bytes += len(data)
        entry_files[_write(root, f.dest, data, gz)] = len(pre)
        last = max(last, hi + delta + 1)
    for f in stubs:
        when = b.start + int((last - b.start) * f.injections[0][1])
        pre, rest = _stub(b, f, when, rng)
        data = b"".join(chain.from_iterable(zip(pre, rest, strict=True)))
        total_bytes += len(data)
        entry_files[_write(root, f.dest, data, gz)] = len(pre)
        injected.setdefault(f.dest, []).extend(INJECTIONS[k].bug for k, _ in f.injections)
        last = max(last, when + 2)
    end = last + rng.randint(60, 300)
    inv = _inventory(b).encode()
    entry_files[_write(root, "zuul-info/inventory.yaml", inv, False)] = inv.count(b"\n")
    total_bytes += len(inv)
    (root / "build.json").write_text(json.dumps(_record(b, end), indent=2) + "\n")
    return {
        "uuid": b.uuid, "job": b.job, "project": b.project, "pipeline": b.pipeline, "voting": b.voting,
        "status": b.status, "start": _isoz(b.start), "end": _isoz(end), "files": entry_files,
        "lines": sum(entry_files.values()), "bytes": total_bytes,
        "bugs": sorted({n for v in injected.values() for n in v}), "injected": injected,
    }  # fmt: skip


def _write(root: Path, dest: str, data: bytes, gz: bool) -> str:
    """Write with a large buffer; gzip at level 1 (speed) and without an mtime (determinism)."""
    rel = dest + (".gz" if gz else "")
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb", buffering=1 << 20) as fh:
        if gz:
            c = zlib.compressobj(1, zlib.DEFLATED, 31)
            fh.write(c.compress(data))
            fh.write(c.flush())
        else:
            fh.write(data)
    return rel


def _isoz(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


def _inventory(b: BuildPlan) -> str:
    d = demo.DemoBuild(
        index=b.index, uuid=b.uuid, job=b.job, project=b.project, branch=b.branch, change=b.change,
        patchset=b.patchset, pipeline=b.pipeline, voting=b.voting, result=b.status,
        start=datetime.fromtimestamp(b.start, UTC), end=datetime.fromtimestamp(b.start, UTC), label=b.label,
        provider=b.provider, host=b.host, bug=None, uncategorized=None, zuul_shape=b.zuul_shape,
    )  # fmt: skip
    return demo.inventory_yaml(d, demo.Job(b.job, (b.project,), "tempest", (0, 0)))


def _record(b: BuildPlan, end: int) -> dict[str, Any]:
    d = demo.DemoBuild(
        index=b.index, uuid=b.uuid, job=b.job, project=b.project, branch=b.branch, change=b.change,
        patchset=b.patchset, pipeline=b.pipeline, voting=b.voting, result=b.status,
        start=datetime.fromtimestamp(b.start, UTC), end=datetime.fromtimestamp(end, UTC), label=b.label,
        provider=b.provider, host=b.host, bug=None, uncategorized=None, zuul_shape=b.zuul_shape,
    )  # fmt: skip
    rec = demo.build_record(d)
    rec["_id"] = 40000000 + b.index
    return rec


# -- driver ---------------------------------------------------------------------------------


def generate(
    out: Path,
    *,
    lines: int | None = None,
    builds: int | None = None,
    days: float = 10,
    jobs: int = 8,
    seed: int = 0,
    fail_rate: float = 0.25,
    end: datetime | None = None,
    gzip: bool = False,
    source: Path = DEFAULT_SOURCE,
    workers: int | None = None,
) -> Manifest:
    """Write the corpus under ``out`` and ``out/manifest.jsonl``; deterministic for the
    arguments (``end`` defaults to the current hour, so pass it for identical output)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    end = (end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)).astimezone(UTC)
    sources = load_sources(Path(source))
    if not sources:
        raise FileNotFoundError(f"{source}: no corpus files ({', '.join(s.name for s in SOURCES)})")
    plans = plan_corpus(sources, lines=lines, builds=builds, days=days, jobs=jobs, seed=seed,
                        fail_rate=fail_rate, end=end)  # fmt: skip
    workers = max(1, min(workers or os.cpu_count() or 1, len(plans)))
    manifest = Manifest(out / "manifest.jsonl")
    if workers == 1 or "fork" not in mp.get_all_start_methods():
        if workers == 1:
            _STATE.update(sources=sources)
            _init(None, str(out), gzip)
            results: Iterable[dict[str, Any]] = map(write_build, plans)
        else:
            pool = mp.get_context("spawn").Pool(workers, _init, (str(source), str(out), gzip))
            results = pool.imap(write_build, plans)
    else:
        _STATE.update(sources=sources)  # inherited by the forked workers, not pickled
        pool = mp.get_context("fork").Pool(workers, _init, (None, str(out), gzip))
        results = pool.imap(write_build, plans)
    try:
        with open(manifest.path, "w") as fh:
            for entry in results:
                manifest.builds.append(entry)
                fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
    finally:
        if workers > 1:
            pool.close()
            pool.join()
        _STATE.clear()
    manifest.seconds = time.perf_counter() - t0
    return manifest


def _parse_end(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="directory for the build directories and manifest.jsonl")
    ap.add_argument("--lines", type=int, help="total log lines to write (about; whole injections are added)")
    ap.add_argument("--builds", type=int, help="number of builds (with --lines: lines per build = lines / builds)")
    ap.add_argument("--days", type=float, default=10, help="spread the builds over this many days (default 10)")
    ap.add_argument("--jobs", type=int, default=8, help="distinct job names (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fail-rate", type=float, default=0.25)
    ap.add_argument("--end", type=_parse_end, help="ISO date/time the span ends at (default: this hour, UTC)")
    ap.add_argument("--gzip", action="store_true", help="write every log as .gz (level 1)")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"corpus directory (default {DEFAULT_SOURCE})")
    ap.add_argument("--workers", type=int, help="processes (default: all cores)")
    a = ap.parse_args(argv)
    if a.lines is None and a.builds is None:
        ap.error("give --lines or --builds")
    m = generate(a.out, lines=a.lines, builds=a.builds, days=a.days, jobs=a.jobs, seed=a.seed,
                 fail_rate=a.fail_rate, end=a.end, gzip=a.gzip, source=a.source, workers=a.workers)  # fmt: skip
    print(m.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
