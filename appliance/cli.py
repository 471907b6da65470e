"""The ``appliance`` command line.

Every command takes ``--data DIR`` and ``--config FILE``; errors are one line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from . import config as config_mod
from .backend.base import BackendError

EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def _store(cfg: config_mod.Config):  # noqa: ANN202
    from index.store import Store

    return Store(cfg.data_dir)


def _retention(store: Any, cfg: config_mod.Config) -> list[str]:
    from index import retention

    writer = store.writer()  # holds the write lock while days are dropped
    try:
        return retention.enforce(
            store,
            retention_days=cfg.retention_days,
            min_free_fraction=cfg.min_free_fraction,
            disk_budget_bytes=cfg.disk_budget_bytes,
            writer=writer,
        )
    finally:
        writer.close()


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        name, sep, value = p.partition("=")
        if not sep or not name:
            raise CliError(f"--field takes NAME=VALUE, got {p!r}")
        out[name.strip()] = value
    return out


def _print(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


# -- commands -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from dataclasses import replace

    from . import builds, ingest

    if args.backend:
        cfg = replace(cfg, backend=args.backend)
    record = builds.load_record(Path(args.build_json)) if args.build_json else None
    plan = ingest.plan(args.paths, _fields(args.field), record, cfg.tenant)
    if cfg.backend != "local":  # to a cluster: bulk requests, nothing in the data dir
        from .backend.writer import ingest_remote

        summary, dropped = ingest_remote(cfg, plan), []
    else:
        store = _store(cfg)
        summary = ingest.ingest(store, cfg, plan, progress=None if not args.quiet else False)
        dropped = _retention(store, cfg)
    if args.json:
        _print({**summary.as_dict(), "retention_dropped": dropped})
    else:
        s = summary
        print(
            f"ingested {s.files} files of {s.builds} builds: {s.lines:,} lines, {s.events:,} events,"
            f" {s.bytes / 1e6:.1f} MB in {s.seconds:.1f} s ({s.mb_per_s:.1f} MB/s,"
            f" {s.lines / s.seconds if s.seconds else 0:,.0f} lines/s)"
        )
        if s.unchanged:
            print(f"unchanged (already ingested): {s.unchanged} files")
        if s.dropped_debug:
            print(f"DEBUG events dropped (keep_debug = false): {s.dropped_debug:,}")
        if s.recovered:
            print(f"recovered: {s.recovered} files an interrupted ingest left unacknowledged were rolled back")
        for path, why in s.skipped:
            print(f"skipped {path}: {why}")
        for w in s.warnings[:50]:
            print(f"warning: {w}")
        if len(s.warnings) > 50:
            print(f"... and {len(s.warnings) - 50} more warnings (--json lists all)")
        for path, why in s.errors:
            print(f"error: {path}: {why}", file=sys.stderr)
        for day in dropped:
            print(f"retention: dropped day {day}")
    return 1 if summary.errors else 0


def cmd_search(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from index.query import QueryError
    from index.search import Searcher

    from . import timeparse
    from .backend import is_remote, open_backend

    searcher = None if is_remote(cfg) else Searcher(_store(cfg), timeout_s=cfg.query_timeout_s)
    backend = open_backend(cfg, searcher.store if searcher else None, searcher)  # the config's: local or a cluster
    start = timeparse.parse(args.from_) if args.from_ else None
    end = timeparse.parse(args.to, round_up=True) if args.to else None
    try:
        backend.check(args.query)
        if args.count:
            print(backend.count(args.query, start, end))
            return 0
        page = backend.search(args.query, start, end, size=args.limit, newest_first=not args.oldest_first)
    except QueryError as e:
        raise CliError(f"query: {e}") from None
    events = [h.event for h in page.hits]
    if args.json:
        _print({"total": page.total, "took_ms": round(page.took_ms, 2), "timed_out": page.timed_out, "hits": events})
        return 0
    for ev in events:
        first = ev["message"].split("\n", 1)[0]
        more = f" (+{ev['nlines'] - 1} lines)" if ev["nlines"] > 1 else ""
        print(f"{ev['@timestamp']} {ev.get('build_short_uuid', '-')} {ev.get('filename', '?')}:{ev['line']} {first}{more}")
    print(f"-- {page.total:,} events, {page.took_ms:.1f} ms{' (timed out: partial)' if page.timed_out else ''}", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from . import stats

    info = stats.collect(_store(cfg))
    if args.json:
        _print(info)
    else:
        print(stats.render(info))
    return 0


def cmd_verify(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from index import verify

    store = _store(cfg)
    bad = verify.verify_days(store, args.day or None, mark=False)
    blobs = verify.verify_archive(store) if args.archive else {}
    if args.json:
        _print({"days": bad, "archive": blobs, "ok": not bad and not blobs})
    else:
        for day, problems in bad.items():
            print(f"day {day}: " + "; ".join(problems) + f"\n  repair: appliance reindex --day {day}")
        for problem in blobs.values():
            print(f"archive: {problem} (ingest the file again)")
        checked = len(args.day or store.partitions.days())
        if not bad and not blobs:
            print(f"ok: {checked} day partitions" + (" and the archive" if args.archive else ""))
    return 1 if bad or blobs else 0


def cmd_reindex(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from . import reindex

    n = reindex.reindex(cfg, progress=None if not args.quiet else False, days=args.day or None)
    print(f"reindexed {n.files} files, {n.events:,} events into {len(n.days)} day partitions in {n.seconds:.1f} s")
    return 0


def cmd_prune(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    for day in _retention(_store(cfg), cfg):
        print(f"dropped day {day}")
    return 0


def cmd_demo(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from . import demo_setup

    demo_setup.ensure_demo(cfg, force=args.force, quiet=args.quiet)
    return 0


def cmd_bench(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from . import bench

    return bench.main(args, cfg)


def cmd_config(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from dataclasses import asdict

    shown = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    if shown.get("opensearch_password"):
        shown["opensearch_password"] = "***"
    _print(shown)
    return 0


# -- the parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="appliance", description="CI log search: ingest, search, recheck, serve.")
    p.add_argument("--config", type=Path, help="TOML config file (default: $APPLIANCE_CONFIG or ./appliance.toml)")
    p.add_argument("--data", type=Path, help="data directory (default: ./appliance-data)")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[..., int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--data", type=Path, default=argparse.SUPPRESS, help="data directory")
        sp.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML config file")
        sp.set_defaults(func=fn)
        return sp

    sp = add("ingest", cmd_ingest, "ingest log files, log trees of builds, or a directory of builds")
    sp.add_argument("paths", nargs="+", type=Path)
    sp.add_argument("--field", action="append", default=[], metavar="NAME=VALUE", help="a build field for every event")
    sp.add_argument("--build-json", metavar="FILE", help="a Zuul build record with the build fields")
    sp.add_argument("--json", action="store_true", help="print the summary as JSON")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--backend", choices=config_mod.BACKENDS, help="where to write (default: the config's backend)")

    sp = add("search", cmd_search, "search events with a Lucene query")
    sp.add_argument("query")
    sp.add_argument("--from", dest="from_", metavar="T", help="ISO 8601 or now-24h")
    sp.add_argument("--to", metavar="T")
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--oldest-first", action="store_true")
    sp.add_argument("--count", action="store_true", help="print only the number of matching events")
    sp.add_argument("--json", action="store_true")

    sp = add("stats", cmd_stats, "partitions, sizes, sources, disk")
    sp.add_argument("--json", action="store_true")

    sp = add("verify", cmd_verify, "check the index's checksums (and the archive's hashes); exit 1 if any is bad")
    sp.add_argument("--day", action="append", help="only these days (default: all)")
    sp.add_argument("--archive", action="store_true", help="also decompress and hash every archived file")
    sp.add_argument("--json", action="store_true")

    sp = add("reindex", cmd_reindex, "rebuild the day partitions from the archive (after a schema change)")
    sp.add_argument("--day", action="append", help="only these days (default: all)")
    sp.add_argument("--quiet", action="store_true")

    add("prune", cmd_prune, "apply retention now (disk budget and retention_days)")

    sp = add("demo", cmd_demo, "generate and ingest the built-in demo data set")
    sp.add_argument("--force", action="store_true", help="regenerate even if already ingested")
    sp.add_argument("--quiet", action="store_true")

    sp = add("bench", cmd_bench, "benchmarks (ingest against raw tantivy, query latency)")
    sp.add_argument("what", choices=["ingest", "query"])
    sp.add_argument("--lines", type=int, default=2_000_000, help="corpus size to generate")
    sp.add_argument("--corpus", type=Path, help="an existing corpus directory (skips generation)")
    sp.add_argument("--out", type=Path, default=Path("bench-data"), help="scratch directory")
    sp.add_argument("--json", action="store_true")

    add("config", cmd_config, "print the effective configuration")

    _add_plugin_commands(sub, add)
    return p


PLUGIN_COMMANDS = ("appliance.recheck.cli", "web.cli")
"""Modules that add their own subcommands (``register(sub, add)``): each feature keeps its
command next to its code, and the web layer adds ``serve`` without appliance importing it."""


def _add_plugin_commands(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    from .plugins import optional_module

    for name in PLUGIN_COMMANDS:
        mod = optional_module(name)
        if mod is not None:
            mod.register(sub, add)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = {"data_dir": getattr(args, "data", None)}
        for k in ("host", "port"):
            if getattr(args, k, None) is not None:
                overrides[k] = getattr(args, k)
        cfg = config_mod.load(getattr(args, "config", None), **overrides)
        return args.func(args, cfg)
    except KeyboardInterrupt:
        print("interrupted: acknowledged files are kept; run the same command again to finish", file=sys.stderr)
        return 130
    except CliError as e:
        print(f"appliance: {e}", file=sys.stderr)
        return 1
    except BackendError as e:
        print(f"appliance: {e.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"appliance: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, no traceback
        name = type(e).__name__
        print(f"appliance: {name}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
