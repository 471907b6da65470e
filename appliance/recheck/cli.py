"""``appliance recheck ...``: elastic-recheck's commands over the appliance's index.

``classify`` a build, ``graph`` the known bugs, list ``uncategorized`` failures, check the
``signatures``, ``notify`` about a build, and ``zuul-poll`` a Zuul tenant.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..config import Config


def _print_json(obj: Any) -> None:
    sys.stdout.write(
        orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )


def _engine(cfg: Config, args: argparse.Namespace) -> Any:
    from ..backend import is_remote, open_backend
    from ..backend.recheck import RemoteRecheckEngine
    from .engine import RecheckEngine
    from .signatures import SignatureSet

    if is_remote(cfg):  # backend = "opensearch": the same questions, asked of the cluster
        eng: Any = RemoteRecheckEngine.from_config(cfg, open_backend(cfg))
    else:
        eng = RecheckEngine.from_config(cfg)
    if getattr(args, "signatures", None):
        eng.signatures = SignatureSet(args.signatures)
    return eng


def _now(args: argparse.Namespace) -> int | None:
    from .. import timeparse

    return timeparse.parse(args.now) if getattr(args, "now", None) else None


def _build_ref(args: argparse.Namespace, eng: Any) -> str:
    from ..cli import CliError

    if args.build:
        return str(args.build)
    if not args.change:
        raise CliError("give a BUILD uuid, or --change N [--patchset P] [--job NAME]")
    found = eng.find_build(args.change, args.patchset, args.job)
    if found is None:
        raise CliError(
            f"no build of change {args.change} patchset {args.patchset or '*'} job {args.job or '*'}"
        )
    return str(found.uuid)


# -- commands -----------------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace, cfg: Config) -> int:
    from ..cli import CliError

    eng = _engine(cfg, args)
    c = eng.classify(_build_ref(args, eng), wait_s=args.wait, max_events=args.events)
    if args.json:
        _print_json(c.as_dict())
        return 0 if c.found else 1
    if not c.found:
        raise CliError(f"build {c.build_uuid} is not in the index")
    b = c.build
    state = "indexed" if c.indexed else "still ingesting: partial answer"
    print(
        f"build {c.build_uuid} {b.get('build_name', '?')} {b.get('build_status', '?')} ({state}), {c.took_ms:.0f} ms"
    )
    for m in c.matches:
        print(f"  bug {m.bug} {m.url} — {m.count} matching events")
        for e in m.events:
            first = e.message.split("\n", 1)[0][:160]
            print(f"    {e.filename}:{e.line} {e.timestamp} {first}")
    if not c.matches:
        print("  no known bug matched" + (": uncategorized failure" if c.uncategorized else ""))
    for err in c.errors:
        print(f"  signature error: {err}", file=sys.stderr)
    return 0


def cmd_graph(args: argparse.Namespace, cfg: Config) -> int:
    eng = _engine(cfg, args)
    if args.format == "elastic-recheck":
        _print_json(eng.graph_json(days=args.days, now=_now(args)))
        return 0
    g = eng.graph(days=args.days, now=_now(args))
    if args.json:
        _print_json(g.as_dict())
        return 0
    lag = g.lag
    behind = (
        f"{lag.behind_s / 60:.0f} min behind" if lag.behind_s is not None else "nothing indexed"
    )
    print(f"{len(g.bugs)} signatures over {args.days} days, {g.took_ms:.0f} ms; ingestion {behind}")
    print(
        f"{'bug':>10} {'fails24':>7} {'fails':>6} {'builds':>6}  jobs (fails/builds hit, job failure rate)"
    )
    for b in g.bugs:
        jobs = sorted(b.jobs.items(), key=lambda kv: -kv[1].fails)[:3]
        js = ", ".join(f"{j} {s.fails}/{s.hits} ({s.failure_rate:.0%})" for j, s in jobs)
        flag = " [error: " + b.error + "]" if b.error else ""
        print(f"{b.bug:>10} {b.fails24:>7} {b.fails:>6} {b.hits:>6}  {js}{flag}")
    return 0


def cmd_uncategorized(args: argparse.Namespace, cfg: Config) -> int:
    eng = _engine(cfg, args)
    u = eng.uncategorized(days=args.days, now=_now(args), voting_only=not args.all)
    if args.json:
        _print_json(u.as_dict())
        return 0
    print(f"{u.count} of {u.failed} failed builds uncategorized over {args.days} days"
          f" ({u.classified_rate:.0%} classified)")  # fmt: skip
    for j in u.jobs:
        print(f"{j.job}: {len(j.builds)} of {j.failed} failures uncategorized")
        for fb in j.builds:
            print(
                f"  {fb.timestamp[:19]} {fb.build_uuid} {fb.queue} {fb.project} {fb.log_url or fb.link}"
            )
    return 0


def cmd_signatures(args: argparse.Namespace, cfg: Config) -> int:
    from .signatures import SignatureSet

    sigs = SignatureSet(args.signatures) if args.signatures else SignatureSet.for_config(cfg)
    if args.json:
        _print_json({
            "directory": str(sigs.directory),
            "signatures": [s.as_dict() for s in sigs],
            "errors": [e.as_dict() for e in sigs.errors],
            "warnings": list(sigs.warnings),
        })  # fmt: skip
    else:
        print(f"{sigs.directory}: {len(sigs)} signatures loaded, {len(sigs.errors)} bad")
        if not args.check:
            for s in sigs:
                flags = [k for k, v in (("resolved", s.resolved), ("no-graph", s.suppress_graph),
                                        ("no-notify", s.suppress_notification), ("non-voting", s.allow_nonvoting)) if v]  # fmt: skip
                print(
                    f"  {s.bug}{' [' + ', '.join(flags) + ']' if flags else ''}: {' '.join(s.query.split())[:120]}"
                )
        for w in sigs.warnings:
            print(f"warning: {w}")
        for e in sigs.errors:
            print(f"bad: {e.path.name}: {e.reason}", file=sys.stderr)
    return 1 if args.check and sigs.errors else 0


def cmd_notify(args: argparse.Namespace, cfg: Config) -> int:
    from ..cli import CliError
    from .notify import Notifier

    eng = _engine(cfg, args)
    c = eng.classify(_build_ref(args, eng), wait_s=args.wait)
    if not c.found:
        raise CliError(f"build {c.build_uuid} is not in the index")
    notifier = Notifier.from_config(cfg)
    res = notifier.notify(c, dry_run=True if args.dry_run else None)
    if res.skipped:
        print(f"nothing sent: {res.skipped}")
        return 0
    for d in res.deliveries:
        state = "dry run" if d.dry_run else ("ok" if d.ok else f"FAILED: {d.error}")
        print(f"{d.target} {d.url}: {state}")
    return 0 if res.ok else 1


def cmd_zuul_poll(args: argparse.Namespace, cfg: Config) -> int:
    from index.store import Store

    from ..cli import CliError
    from ..sources.zuul import ZuulPoller, ZuulSettings
    from .engine import RecheckEngine
    from .notify import Notifier

    if not cfg.zuul_url or not (cfg.zuul_tenant or cfg.tenant):
        raise CliError(
            "set zuul_url and zuul_tenant (config file or APPLIANCE_ZUUL_URL / APPLIANCE_ZUUL_TENANT)"
        )
    store = Store(cfg.data_dir)
    settings = ZuulSettings.from_config(cfg)
    engine = RecheckEngine.from_config(cfg, store=store)
    notifier = Notifier.from_config(cfg) if settings.notify else None
    poller = ZuulPoller(cfg, store, settings=settings, engine=engine, notifier=notifier)
    if args.once:
        r = poller.poll_once()
        print(f"{r.builds_seen} builds read, {r.new} new, {r.ingested} ingested ({r.files} files,"
              f" {r.bytes / 1e6:.1f} MB), {len(r.classified)} failures classified, {r.notified} notified")  # fmt: skip
        for uuid, bugs in r.classified.items():
            print(f"  {uuid}: {', '.join(bugs) if bugs else 'uncategorized'}")
        for e in r.errors:
            print(f"error: {e}", file=sys.stderr)
        return 1 if r.errors else 0
    poller.start()
    try:
        while True:
            time.sleep(settings.poll_interval_s)
            st = poller.status()
            print(f"{st['last_poll']}: {st['builds_ingested']} builds ingested, {st['errors']} errors,"
                  f" lag {st['lag_s']} s", flush=True)  # fmt: skip
    finally:
        poller.stop()


# -- the parser ---------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--data", type=Path, default=argparse.SUPPRESS, help="data directory")
    p.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML config file")
    return p


def _build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", nargs="?", help="build uuid (or its 7-character short uuid)")
    p.add_argument("--change", help="instead of BUILD: the newest build of this change...")
    p.add_argument("--patchset", help="...and patchset")
    p.add_argument("--job", help="...and job name")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for its logs to be indexed",
    )


def _signatures_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--signatures",
        type=Path,
        help="signature directory (default: signatures_dir, else the shipped ones)",
    )


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    sp = add(
        "recheck",
        lambda args, cfg: args.recheck_func(args, cfg),
        "elastic-recheck: known CI bugs in failed builds",
    )
    rs = sp.add_subparsers(dest="recheck_command", required=True, metavar="COMMAND")

    def cmd(
        name: str, fn: Callable[[argparse.Namespace, Config], int], help_: str
    ) -> argparse.ArgumentParser:
        p = _common(rs.add_parser(name, help=help_, description=help_))
        p.set_defaults(recheck_func=fn)
        return p

    p = cmd("classify", cmd_classify, "which known bugs a build hit, with the matching lines")
    _build_args(p)
    _signatures_arg(p)
    p.add_argument("--events", type=int, default=5, help="matching events shown per bug")
    p.add_argument("--json", action="store_true")

    p = cmd("graph", cmd_graph, "hits of every signature per hour over the last days")
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--now", help="end of the window (ISO 8601, now-1d...; default: now)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--format", choices=["table", "elastic-recheck"], default="table",
                   help="elastic-recheck: its graph.json, for its dashboard")  # fmt: skip
    _signatures_arg(p)

    p = cmd("uncategorized", cmd_uncategorized, "failed builds no signature matched, by job")
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--now", help="end of the window (ISO 8601, now-1d...; default: now)")
    p.add_argument("--all", action="store_true", help="non-voting builds too")
    p.add_argument("--json", action="store_true")
    _signatures_arg(p)

    p = cmd(
        "signatures",
        cmd_signatures,
        "load and translate every signature; list them or the bad ones",
    )
    p.add_argument("--check", action="store_true", help="only report bad files; exit 1 if any")
    p.add_argument("--json", action="store_true")
    _signatures_arg(p)

    p = cmd("notify", cmd_notify, "classify a build and post the result to Gerrit / the webhook")
    _build_args(p)
    _signatures_arg(p)
    p.add_argument("--dry-run", action="store_true", help="print what would be posted")

    p = cmd(
        "zuul-poll",
        cmd_zuul_poll,
        "poll the Zuul builds API: fetch, ingest and classify finished builds",
    )
    p.add_argument("--once", action="store_true", help="one poll, then exit")

    from .diff_cli import register as register_digging

    register_digging(cmd, _build_args, _signatures_arg)
