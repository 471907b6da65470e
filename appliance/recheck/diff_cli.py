"""``appliance recheck diff | propose | templates``: digging for new failures from the
command line (registered by :func:`appliance.recheck.cli.register`).

``diff BUILD`` lists what is new in a failed build; ``propose BUILD`` proposes a
signature and shows what it would match (``--save --bug N`` writes ``queries/N.yaml``);
``templates`` lists the new error templates of the last 24 hours (``--warm`` computes
every missing template first).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..config import Config


def _digger(cfg: Config, args: argparse.Namespace) -> Any:
    from ..cli import CliError
    from .cli import _engine
    from .digger import Digger

    eng = _engine(cfg, args)
    if not hasattr(eng, "runner"):
        raise CliError("digging needs the local index (not available with a remote backend)")
    return Digger(eng)


def _when(args: argparse.Namespace) -> int | None:
    from .cli import _now

    return _now(args)


def _evaluation(ev: Any, days: int) -> str:
    if ev is None:
        return "not evaluated"
    if ev.error:
        return f"does not run: {ev.error}"
    verdict = (
        "matches no passing build"
        if ev.passing == 0
        else f"ALSO MATCHES {ev.passing} PASSING BUILD(S)"
    )
    other = f", {ev.other} other" if ev.other else ""
    return f"{ev.builds} builds over {days} days, {ev.failed} failed{other}: {verdict}"


def cmd_diff(args: argparse.Namespace, cfg: Config) -> int:
    from ..cli import CliError
    from .cli import _build_ref, _print_json

    dig = _digger(cfg, args)
    d = dig.diff(_build_ref(args, dig.engine), days=args.days, now=_when(args))
    if args.json:
        _print_json(d.as_dict())
        return 0 if d.found else 1
    if not d.found:
        raise CliError(f"build {d.build_uuid} is not in the index")
    print(f"build {d.build_uuid} {d.job} {d.build.get('build_status', '?')}: {d.new} of {d.templates} line "
          f"templates new against {len(d.compared)} passing builds over {d.days} days ({d.took_ms:.0f} ms)")  # fmt: skip
    for w in d.warnings:
        print(f"  note: {w}")
    for u in d.units[: args.limit]:
        r = u.rarity
        seen = f"in {r.builds} builds ({r.failed} failed, {r.passing} passing)" if r else ""
        print(f"\n[{u.severity_name}] {u.filename}:{u.line} x{u.count} {seen}")
        for nl in u.lines[:4]:
            print(f"    {nl.template[:200]}")
        if u.more or len(u.lines) > 4:
            print(f"    ... {u.more + max(0, len(u.lines) - 4)} more new lines")
    if len(d.units) > args.limit or d.more_units:
        print(
            f"\n{len(d.units) - min(args.limit, len(d.units)) + d.more_units} more units (--limit, --json)"
        )
    return 0


def cmd_propose(args: argparse.Namespace, cfg: Config) -> int:
    from ..cli import CliError
    from .cli import _build_ref, _print_json
    from .propose import SaveError

    dig = _digger(cfg, args)
    ref = _build_ref(args, dig.engine)
    d, p = dig.propose(ref, days=args.days, now=_when(args), query=args.query)
    if not d.found:
        raise CliError(f"build {d.build_uuid} is not in the index")
    if args.save and not args.bug:
        raise CliError("--save needs --bug N (the bug number the signature is for)")
    saved = None
    if args.save and p.query:
        try:
            saved = dig.save(args.bug, p.query, allow_nonvoting=p.allow_nonvoting, build=d.build_uuid,
                             days=args.days, overwrite=args.overwrite)  # fmt: skip
        except SaveError as e:
            raise CliError(e.message) from None
    if args.json:
        out = {
            "diff": d.as_dict(),
            "proposal": p.as_dict(),
            "saved": saved.as_dict() if saved else None,
        }
        _print_json(out)
        return 0 if p.query else 1
    if not p.query:
        print("no signature to propose: " + "; ".join(p.warnings))
        return 1
    print(f"build {d.build_uuid} {d.job}: proposed signature ({d.took_ms + p.took_ms:.0f} ms)\n")
    print(p.yaml)
    print(f"it matches {_evaluation(p.evaluation, d.days)}")
    for w in p.warnings:
        print(f"note: {w}")
    if saved is not None:
        state = (
            "loaded" if saved.loaded else "NOT loaded (see `appliance recheck signatures --check`)"
        )
        hit = {True: ", matches the build", False: ", does NOT match the build", None: ""}[
            saved.matches_build
        ]
        print(f"\nsaved {saved.file} in the signature directory: {state}{hit}")
    elif not args.save:
        print("\n(--save --bug N writes it as N.yaml in the signature directory)")
    return 0


def cmd_templates(args: argparse.Namespace, cfg: Config) -> int:
    from .cli import _print_json

    dig = _digger(cfg, args)
    tr = dig.trends(days=args.days, now=_when(args), limit=args.limit, only_new=not args.all,
                    compute_missing=args.warm)  # fmt: skip
    if args.json:
        _print_json(tr.as_dict())
        return 0
    what = "new error templates" if not args.all else "error templates"
    print(f"{tr.total_new} new of {tr.total_today} error templates in the last 24 h, {tr.today_builds} builds; "
          f"{tr.analysed} of {tr.builds} builds of {args.days} days analysed ({tr.took_ms:.0f} ms)")  # fmt: skip
    if tr.analysed < tr.builds and not args.warm:
        print("  (--warm computes the missing templates first; `serve` does it in the background)")
    print(f"\ntop {what} today: builds today (failed), events today, trend per day")
    for t in tr.templates:
        trend = " ".join(
            str(f + s + o)
            for f, s, o in zip(*(t.series[k] for k in ("FAILURE", "SUCCESS", "OTHER")), strict=True)
        )
        print(
            f"{t.builds_today:>4} ({t.failed_today}) {t.events_today:>6}  [{trend}]  {t.template[:150]}"
        )
        print(f"{'':>20}{t.filename}:{t.line} of {t.build_uuid}")
    return 0


def register(cmd: Callable[..., argparse.ArgumentParser], build_args: Callable[[argparse.ArgumentParser], None],
             signatures_arg: Callable[[argparse.ArgumentParser], None]) -> None:  # fmt: skip
    """Add the subcommands through ``appliance.recheck.cli``'s ``cmd`` helper."""

    def window(p: argparse.ArgumentParser, days: int) -> None:
        p.add_argument("--days", type=int, default=days, help=f"window in days (default {days})")
        p.add_argument("--now", help="end of the window (ISO 8601, now-1d...; default: now)")
        p.add_argument("--json", action="store_true")

    p = cmd(
        "diff", cmd_diff, "what is new in a failed build: lines no passing build of its job shows"
    )
    build_args(p)
    window(p, 10)
    p.add_argument("--limit", type=int, default=15, help="units shown (default 15)")

    p = cmd(
        "propose", cmd_propose, "propose a signature for a failed build and show what it matches"
    )
    build_args(p)
    signatures_arg(p)
    window(p, 10)
    p.add_argument("--query", help="evaluate this query instead of proposing one")
    p.add_argument(
        "--save", action="store_true", help="write it as <bug>.yaml in the signature directory"
    )
    p.add_argument("--bug", help="the bug number (with --save)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing <bug>.yaml")

    p = cmd(
        "templates",
        cmd_templates,
        "the new error templates of the last 24 hours, with counts and trend",
    )
    window(p, 7)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument(
        "--all", action="store_true", help="all error templates of the day, not only new ones"
    )
    p.add_argument(
        "--warm", action="store_true", help="compute the templates the cache lacks first"
    )
