"""Log formats on the real OpenStack CI logs and on small samples written here.

Expected values are read off the files (or computed with :mod:`datetime`), never taken
from the parser's own output.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import formats
from appliance.formats import apache, console, journal, oslo, plain, syslog
from appliance.formats.base import (
    FLAG_BAD_TIMESTAMP,
    FLAG_INVALID_UTF8,
    FLAG_NO_TIMESTAMP,
    FLAG_SPLIT,
    FLAG_TRUNCATED,
    MAX_EVENT_LINES,
    MAX_LINE_CHARS,
    Context,
    Record,
)

from .conftest import SHARED

DEFAULT_TS = 1_000_000_000_000_000
"""A default time no log line has (2001-09-09), so filled-in records are recognizable."""

REAL_FILES = {
    "screen-n-api.txt.gz": oslo,
    "screen-n-api-2.txt.gz": oslo,
    "screen-q-svc.txt.gz": oslo,
    "screen-neutron-l3.txt.gz": oslo,
    "screen-c-api.txt.gz": oslo,
    "console.html.gz": console,
    "devstacklog.txt.gz": console,
    "syslog.txt.gz": syslog,
    "devstack@c-api.service.log.txt": journal,
    "devstack@c-vol.service.log.txt": journal,
}


def us(*dt: int, micro: int = 0) -> int:
    """Microseconds since the epoch of a UTC wall-clock time, by the standard library."""
    return int(datetime(*dt, tzinfo=UTC).timestamp()) * 1_000_000 + micro


def text_lines(data: bytes) -> list[str]:
    """The file's lines as the appliance counts them (``splitlines`` also splits at
    form feeds and other separators, which logs carry inside lines)."""
    return data.decode("utf-8").removesuffix("\n").split("\n") if data else []


def read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def indexed_name(name: str) -> str:
    return name.removesuffix(".gz")


def parse_real(
    corpus: Path, name: str, year: int = 2013
) -> tuple[list[str], list[Record], list[str]]:
    data = read(corpus / name)
    ctx = Context(filename=indexed_name(name), default_ts_us=DEFAULT_TS, year=year)
    _, records, warnings = formats.parse_file(data, ctx.filename, ctx)
    return text_lines(data), records, warnings


def parse_text(
    text: str, filename: str = "x.txt", **ctx_kw: object
) -> tuple[object, list[Record], list[str]]:
    ctx = Context(filename=filename, default_ts_us=DEFAULT_TS, **ctx_kw)  # type: ignore[arg-type]
    return formats.parse_file(text.encode(), filename, ctx)


def record_at(records: list[Record], line: int) -> Record:
    """The record holding 0-based ``line``."""
    return next(r for r in records if r.line <= line < r.line + r.nlines)


def assert_tiles(records: list[Record], nlines: int) -> None:
    pos = 0
    for r in records:
        assert r.line == pos, (
            f"gap or overlap at line {pos + 1}: next record starts at {r.line + 1}"
        )
        assert r.nlines >= 1
        pos += r.nlines
    assert pos == nlines


@pytest.fixture(scope="module")
def fixtures() -> Path:
    d = SHARED / "fixtures"
    if not d.is_dir():
        pytest.skip(f"the shared fixtures are not at {d}")
    return d


# -- detection and tiling on every real file --------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_file_is_detected_and_its_records_tile_it(corpus: Path, name: str) -> None:
    data = read(corpus / name)
    fmt, records, warnings = formats.parse_file(data, indexed_name(name), Context(year=2013))
    assert fmt is REAL_FILES[name]
    assert formats.detect(formats.decode(data).lines[:200], "unnamed") is REAL_FILES[name], (
        "by content alone"
    )
    assert_tiles(records, data.count(b"\n") + (not data.endswith(b"\n")))
    assert all(r.ts_us is not None for r in records)
    assert warnings == []
    assert not formats.is_binary(data)


def test_zuul_job_output_is_console_with_microseconds_and_the_host_kept(fixtures: Path) -> None:
    data = (fixtures / "job-output-excerpt.txt").read_bytes()
    fmt, records, _ = formats.parse_file(data, "job-output.txt", Context())
    assert fmt is console
    lines = text_lines(data)
    assert_tiles(records, len(lines))
    i = next(k for k, x in enumerate(lines) if "| controller | Traceback" in x)
    r = record_at(records, i)
    assert r.line == i and r.nlines == 1
    assert r.ts_us == us(2023, 5, 2, 15, 20, 10, micro=2)
    assert r.message == lines[i].split(" | ", 1)[1]
    assert r.message.startswith("controller | Traceback (most recent call last):")
    empty = next(k for k, x in enumerate(lines) if x.endswith("| ") and x.count("|") == 1)
    assert record_at(records, empty).message == ""


# -- fields of known lines ----------------------------------------------------------------------


def test_oslo_fields_of_a_known_line(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "screen-n-api.txt.gz")
    i = next(
        k
        for k, x in enumerate(lines)
        if x.startswith("2013-09-27 18:22:08.332 2515 DEBUG nova.wsgi")
    )
    r = record_at(records, i)
    assert r.line == i
    assert r.ts_us == us(2013, 9, 27, 18, 22, 8, micro=332_000)
    assert (r.loglevel, r.module, r.pid, r.program) == ("DEBUG", "nova.wsgi", "2515", None)
    assert r.message.split("\n")[0] == lines[i][len("2013-09-27 18:22:08.332 ") :]
    assert r.flags == ()


def test_oslo_line_without_pid_and_its_continuation_lines(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "screen-n-api.txt.gz")
    i = next(
        k
        for k, x in enumerate(lines)
        if x.startswith("2013-09-27 18:23:38.974 DEBUG nova.api.ec2.apirequest")
    )
    end = next(k for k in range(i + 1, len(lines)) if lines[k][:4] == "2013")
    r = record_at(records, i)
    assert (r.line, r.nlines) == (i, end - i), (
        "the XML dump lines belong to the line that logged them"
    )
    assert (r.loglevel, r.module, r.pid) == ("DEBUG", "nova.api.ec2.apirequest", None)
    assert r.message.split("\n")[1:] == lines[i + 1 : end]


def test_console_fields_of_a_known_line(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "devstacklog.txt.gz", year=2014)
    r = records[0]
    assert (r.line, r.nlines) == (0, 1)
    assert r.ts_us == us(2014, 3, 17, 16, 11, 24, micro=173_000)
    assert r.message == "stack.sh log /opt/stack/new/devstacklog.txt.2014-03-17-161124"
    assert (r.loglevel, r.module, r.pid, r.program) == (None, None, None, None)


def test_syslog_fields_and_year_from_context(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "syslog.txt.gz", year=2014)
    r = records[0]
    assert r.ts_us == us(2014, 6, 9, 15, 41, 36)
    assert (r.program, r.pid) == ("object-replicator", None)
    assert r.message == lines[0][len("Jun  9 15:41:36 ") :]
    assert r.message.startswith("devstack-precise-hpcloud-b3-227769 object-replicator: ")
    i = next(k for k, x in enumerate(lines) if " ntpd[1835]: " in x)
    r = record_at(records, i)
    assert (r.program, r.pid, r.loglevel) == ("ntpd", "1835", None)
    assert r.ts_us == us(2014, 6, 9, *map(int, lines[i][7:15].split(":")))


def test_journal_fields_of_a_known_line(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "devstack@c-api.service.log.txt", year=2017)
    i = next(k for k, x in enumerate(lines) if "guru_meditation_report" in x)
    r = record_at(records, i)
    assert r.ts_us == us(2017, 3, 28, 12, 20, 43, micro=570_064)
    assert (r.program, r.pid) == ("cinder-api", "8526")
    assert (r.loglevel, r.module) == ("WARNING", "oslo_reports.guru_meditation_report")
    assert r.message == lines[i][len("Mar 28 12:20:43.570064 ") :]
    systemd = record_at(records, next(k for k, x in enumerate(lines) if "systemd[1]:" in x))
    assert (systemd.program, systemd.pid, systemd.loglevel) == ("systemd", "1", None)


def test_apache_access_log_honours_the_zone() -> None:
    text = (
        '127.0.0.1 - - [27/Sep/2013:18:22:10 +0000] "GET / HTTP/1.1" 200 402 "-" "curl/7.22.0"\n'
        '10.0.0.5 - frank [27/Sep/2013:11:22:11 -0700] "POST /v2/servers HTTP/1.1" 202 1024\n'
    )
    fmt, records, _ = parse_text(text, "apache/access_log.txt")
    assert fmt is apache
    assert [r.ts_us for r in records] == [us(2013, 9, 27, 18, 22, 10), us(2013, 9, 27, 18, 22, 11)]
    assert [r.message for r in records] == text.splitlines(), "the time is inside: the whole line"


def test_apache_error_log() -> None:
    text = (
        "[Tue Mar 28 12:20:42.377230 2017] [core:error] [pid 8526:tid 1400] [client 10.0.0.1:1] File does not exist\n"
        "[Tue Mar 28 12:20:43 2017] [:warn] [pid 8527] mod_wsgi (pid=8527): Exception occurred\n"
        "  continuation of the above\n"
    )
    fmt, records, _ = parse_text(text, "apache/error_log.txt")
    assert fmt is apache
    a, b = records
    assert a.ts_us == us(2017, 3, 28, 12, 20, 42, micro=377_230)
    assert (a.loglevel, a.module, a.pid) == ("ERROR", "core", "8526")
    assert a.message.startswith("[core:error] [pid 8526")
    assert (b.loglevel, b.module, b.pid, b.nlines) == ("WARNING", None, "8527", 2)


def test_utc_offset_is_subtracted() -> None:
    text = "2013-09-27 18:22:10.245 1 INFO m [-] x\n"
    _, [utc], _ = parse_text(text)
    _, [ahead], _ = parse_text(text, utc_offset_s=3600)
    assert utc.ts_us - ahead.ts_us == 3600 * 1_000_000


# -- multi-line records --------------------------------------------------------------------------


def _run(lines: list[str], i: int, prefix: str) -> int:
    """How many lines from ``i`` on start with ``prefix``."""
    n = 0
    while i + n < len(lines) and lines[i + n].startswith(prefix):
        n += 1
    return n


def test_oslo_trace_traceback_is_one_record_with_the_error_line(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "screen-q-svc.txt.gz")
    i = next(k for k, x in enumerate(lines) if re.match(r"\S+ \S+ \d+ TRACE ", x)) - 1
    assert " 2820 ERROR neutron.api.v2.resource " in lines[i]
    trace = _run(lines, i + 1, lines[i][:29] + "TRACE ")
    assert trace > 10
    r = record_at(records, i)
    assert (r.line, r.nlines) == (i, 1 + trace)
    assert (r.loglevel, r.module, r.pid) == ("ERROR", "neutron.api.v2.resource", "2820")
    assert "Traceback (most recent call last):" in r.message
    assert r.message.split("\n")[1:] == lines[i + 1 : i + 1 + trace], (
        "continuation lines kept whole"
    )


def test_post_2015_error_traceback_is_one_record(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "screen-neutron-l3.txt.gz", year=2017)
    tb = next(
        k
        for k, x in enumerate(lines)
        if x.endswith(" ERROR neutron.agent.l3.agent Traceback (most recent call last):")
    )
    first = tb - 1
    assert (
        lines[first].startswith(lines[tb][:40])
        and "Failed to fetch router information" in lines[first]
    )
    n = _run(lines, first, lines[tb][:40])
    r = record_at(records, tb)
    assert (r.line, r.nlines) == (first, n)
    assert n > 15
    assert r.loglevel == "ERROR" and r.message.startswith(
        "1948 ERROR neutron.agent.l3.agent [-] Failed to fetch"
    )
    assert record_at(records, first + n).line == first + n, "the next line is a record of its own"


def test_logstash_2013_traceback_event_is_one_record(fixtures: Path) -> None:
    """The merged event Logstash stored: ``@message`` is the text after the ERROR line's
    module; the file it came from is rebuilt around it."""
    src = json.loads((fixtures / "es-hits-2013-traceback.json").read_text())["hits"]["hits"][0][
        "_source"
    ]
    msg = src["@message"]
    prefix = "2013-10-18 16:06:29.859 22253 ERROR cinder.openstack.common.rpc.amqp "
    text = "2013-10-18 16:06:29.858 22253 DEBUG x [-] before\n" + prefix + msg + "\n"
    text += "2013-10-18 16:06:29.900 22253 DEBUG x [-] after\n"
    fmt, records, _ = parse_text(text, "logs/screen-c-vol.txt")
    assert fmt is oslo
    assert [r.nlines for r in records] == [1, msg.count("\n") + 1, 1]
    r = records[1]
    assert r.message == prefix.split(" ", 2)[2] + msg
    assert r.ts_us == us(2013, 10, 18, 16, 6, 29, micro=859_000)
    assert (r.loglevel, r.pid, r.module) == ("ERROR", "22253", src["@fields"]["module"][0])


def test_oslo_error_lines_of_another_pid_or_time_are_separate() -> None:
    text = (
        "2015-01-01 00:00:00.001 7 ERROR m [-] one\n"
        "2015-01-01 00:00:00.001 8 ERROR m [-] other pid\n"
        "2015-01-01 00:00:00.002 8 ERROR m [-] other time\n"
        "2015-01-01 00:00:00.002 8 INFO m [-] not an error\n"
        "2015-01-01 00:00:00.002 8 TRACE m Traceback (most recent call last):\n"
    )
    _, records, _ = parse_text(text)
    assert [r.nlines for r in records] == [1, 1, 1, 2]


def test_journal_python_traceback_is_one_record(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "devstack@c-vol.service.log.txt", year=2017)
    first = next(
        k
        for k, x in enumerate(lines)
        if x.endswith("cinder-volume[27348]: Traceback (most recent call last):")
    )
    last = next(
        k for k, x in enumerate(lines) if x.endswith("error: cannot switch to a different thread")
    )
    r = record_at(records, first)
    assert (r.line, r.nlines) == (first, last - first + 1)
    assert (r.program, r.pid) == ("cinder-volume", "27348")
    assert record_at(records, first - 1).nlines == 1, "the INFO line before is another event"
    sudo = [record_at(records, k) for k, x in enumerate(lines) if " sudo[552]: " in x]
    assert [s.nlines for s in sudo] == [1, 1, 1], "an indented line alone starts no traceback"


# -- timestamps -----------------------------------------------------------------------------------


def test_syslog_year_rolls_over_at_new_year() -> None:
    text = (
        "Dec 31 23:59:58 host prog[1]: old year\n"
        "Dec 31 23:59:59 host prog[1]: still\n"
        "Jan  1 00:00:01 host prog[1]: new year\n"
        "Dec 31 23:59:59 host prog[2]: late line from the old year\n"
    )
    fmt, records, _ = parse_text(text, "syslog.txt", year=2013)
    assert fmt is syslog
    assert [r.ts_us for r in records] == [
        us(2013, 12, 31, 23, 59, 58),
        us(2013, 12, 31, 23, 59, 59),
        us(2014, 1, 1, 0, 0, 1),
        us(2013, 12, 31, 23, 59, 59),
    ]


def test_yearless_log_that_began_before_a_january_build() -> None:
    text = "Dec 31 23:00:00 host prog: before\nJan  1 00:10:00 host prog: during\n"
    ctx = Context(filename="syslog.txt", default_ts_us=us(2014, 1, 1, 0, 5), year=2014)
    _, records, _ = formats.parse_file(text.encode(), ctx.filename, ctx)
    assert [r.ts_us for r in records] == [us(2013, 12, 31, 23), us(2014, 1, 1, 0, 10)]


def test_bad_timestamp_inherits_the_previous_time_with_flag_and_warning() -> None:
    text = (
        "2013-09-27 18:22:10.245 1 INFO m [-] good\n"
        "2013-13-45 25:61:00.000 1 INFO m [-] bad month\n"
        "2013-09-27 18:22:11.000 1 INFO m [-] good again\n"
    )
    _, records, warnings = parse_text(text)
    good, bad, again = records
    assert bad.ts_us == good.ts_us == us(2013, 9, 27, 18, 22, 10, micro=245_000)
    assert bad.flags == (FLAG_BAD_TIMESTAMP,) and good.flags == again.flags == ()
    assert bad.message == "1 INFO m [-] bad month"
    assert len(warnings) == 1 and warnings[0].startswith(
        "line 2: timestamp '2013-13-45 25:61:00.000'"
    )
    assert "inherited previous time" in warnings[0]


def test_bad_timestamps_warn_a_bounded_number_of_times() -> None:
    text = "2013-09-27 18:22:10.245 | ok\n" + "2013-02-30 00:00:00.000 | feb 30\n" * 500
    _, records, warnings = parse_text(text, "console.txt")
    assert sum(FLAG_BAD_TIMESTAMP in r.flags for r in records) == 500
    assert len(warnings) == formats.MAX_WARNINGS + 1 and "480 more" in warnings[-1]


def test_lines_before_the_first_timestamp_get_the_default_time(corpus: Path) -> None:
    lines, records, _ = parse_real(corpus, "screen-n-api.txt.gz")
    first_ts = next(k for k, x in enumerate(lines) if x[:4] == "2013")
    assert first_ts > 0 and all(x.startswith("+ ") for x in lines[:first_ts])
    assert [(r.line, r.nlines, r.ts_us, r.flags) for r in records[:first_ts]] == [
        (k, 1, DEFAULT_TS, (FLAG_NO_TIMESTAMP,)) for k in range(first_ts)
    ]
    assert records[first_ts].flags == () and records[first_ts].ts_us != DEFAULT_TS
    raw = list(oslo.parse(lines, Context()))
    assert [r.ts_us for r in raw[:first_ts]] == [None] * first_ts, "parse leaves them to the caller"


def test_plain_text_is_the_fallback() -> None:
    text = "hello\nworld, no time here\n"
    fmt, records, _ = parse_text(text, "notes.txt")
    assert fmt is plain
    assert [(r.message, r.ts_us, r.flags) for r in records] == [
        (x, DEFAULT_TS, (FLAG_NO_TIMESTAMP,)) for x in text.splitlines()
    ]


# -- console.html ---------------------------------------------------------------------------------


def test_console_html_is_indexed_as_the_text_a_reader_sees(corpus: Path) -> None:
    raw, records, _ = parse_real(corpus, "console.html.gz")
    text = "\n".join(r.message for r in records)
    for markup in (
        "<a ",
        "</a>",
        "<pre>",
        "</pre>",
        "<span",
        "&lt;",
        "&gt;",
        "&amp;",
        "&quot;",
        "&#",
    ):
        assert markup not in text
    started = record_at(records, next(k for k, x in enumerate(raw) if "Started by user" in x))
    assert started.message == "Started by user anonymous"
    lo = record_at(records, next(k for k, x in enumerate(raw) if "&lt;LOOPBACK" in x))
    assert lo.message.startswith("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 16436")
    amp = record_at(records, next(k for k, x in enumerate(raw) if "&amp;&amp; make" in x))
    assert "' && make -C datapath/linux" in amp.message
    assert records[0].message == "" and records[0].flags == (FLAG_NO_TIMESTAMP,), "the <pre> line"


def test_console_text_file_keeps_its_angle_brackets() -> None:
    text = "2014-03-17 16:11:24.173 | echo '<b>' &amp;\n"
    _, [r], _ = parse_text(text, "devstacklog.txt")
    assert r.message == "echo '<b>' &amp;"


# -- bytes: truncation, invalid UTF-8, binary ------------------------------------------------------


def test_ten_megabyte_line_is_cut_and_flagged() -> None:
    data = b"2024-02-13 10:00:00.000 | " + b"x" * (10 << 20) + b"\n2024-02-13 10:00:01.000 | next\n"
    _, records, warnings = formats.parse_file(data, "huge.txt", Context())
    huge, nxt = records
    assert len(huge.message) == MAX_LINE_CHARS - len("2024-02-13 10:00:00.000 | ")
    assert huge.flags == (FLAG_TRUNCATED,) and nxt.flags == ()
    assert huge.ts_us == us(2024, 2, 13, 10) and nxt.message == "next"
    assert [w.split(":")[0] for w in warnings] == ["line 1"]


def test_invalid_utf8_is_replaced_and_flagged() -> None:
    data = (
        b"2024-02-13 10:00:00.000 | fine\n2024-02-13 10:00:01.000 | caf\xe9 cr\xe8me\n  more \xff\n"
    )
    lines, flagged, warnings = formats.decode(data)
    assert lines[1] == "2024-02-13 10:00:01.000 | caf\ufffd cr\ufffdme"
    assert flagged == {1: (FLAG_INVALID_UTF8,), 2: (FLAG_INVALID_UTF8,)}
    _, records, warnings = formats.parse_file(data, "latin1.txt", Context())
    fine, bad = records
    assert fine.flags == () and bad.flags == (FLAG_INVALID_UTF8,) and bad.nlines == 2
    assert warnings and warnings[0].startswith("line 2: invalid UTF-8")


def test_a_record_gets_the_flags_of_all_its_lines_once() -> None:
    data = (b"junk before any time \xff\n"
            b"2024-02-13 10:00:00.000 | first \xff\n  cont " + b"y" * (MAX_LINE_CHARS + 5) + b"\n  more \xfe\n"
            b"2024-02-13 10:00:01.000 | clean\n")  # fmt: skip
    _, records, _ = formats.parse_file(data, "mixed.txt", Context(default_ts_us=DEFAULT_TS))
    junk, first, clean = records
    assert junk.flags == (FLAG_NO_TIMESTAMP, FLAG_INVALID_UTF8) and junk.ts_us == DEFAULT_TS
    assert first.nlines == 3 and first.flags == (FLAG_INVALID_UTF8, FLAG_TRUNCATED)
    assert clean.flags == () and clean.ts_us == us(2024, 2, 13, 10, 0, 1)


def test_decode_lines_crlf_and_final_newline() -> None:
    assert formats.decode(b"a\r\nb\r\n").lines == ["a", "b"]
    assert formats.decode(b"a\nb").lines == ["a", "b"]
    assert formats.decode(b"a\n\n").lines == ["a", ""]
    assert formats.decode(b"a\rb\r").lines == ["a\rb"]
    assert formats.decode(b"").lines == []
    assert formats.decode(b"ok\n").flagged == {}


_FRAGMENTS = [b"a", b"b c", b"\n", b"\r", b"\r\n", "\u00e9".encode(), "\u20ac".encode(), b"\xff", b"\xe2\x82"]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_FRAGMENTS), max_size=40),
    cuts=st.lists(st.integers(0, 200), max_size=8),
    chunk=st.integers(1, 12),
)
def test_decode_in_parts_is_decode_of_the_whole(pieces: list[bytes], cuts: list[int], chunk: int) -> None:
    """A big file is decoded from its archived frames, a few MB at a time: wherever the
    frames and pieces are cut (inside a UTF-8 sequence, between \\r and \\n), the lines
    and flags are those of decoding the whole text at once."""
    data = b"".join(pieces)
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    expect = text.split("\n")
    if expect[-1] == "":
        expect.pop()
    elif expect[-1].endswith("\r"):
        expect[-1] = expect[-1][:-1]
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    parts = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)] + [b""]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(formats, "DECODE_CHUNK", chunk)
        whole, in_parts = formats.decode(data), formats.decode(iter(parts))
    assert whole.lines == in_parts.lines == expect
    assert whole.flagged == in_parts.flagged == {
        i: (FLAG_INVALID_UTF8,) for i, line in enumerate(expect) if "\ufffd" in line
    }


def test_binary_detection(corpus: Path) -> None:
    assert formats.is_binary(bytes(range(256)) * 64)
    assert formats.is_binary((corpus / "syslog.txt.gz").read_bytes()), "still compressed"
    assert formats.is_binary(bytes(range(1, 32)) * 100), "control characters, no NUL"
    assert not formats.is_binary(b"")
    assert not formats.is_binary(b"\x1b[32mgreen\x1b[0m text\tand tabs\r\n" * 100)
    assert not formats.is_binary("caf\u00e9 \u2603 unicode text\n".encode() * 100)


# -- splitting, registry ---------------------------------------------------------------------------


def test_record_longer_than_max_event_lines_is_split() -> None:
    n = MAX_EVENT_LINES * 2 + 10
    text = "2024-02-13 10:00:00.000 1 ERROR m [-] dump follows\n" + "".join(
        f"row {k}\n" for k in range(n)
    )
    text += "2024-02-13 10:00:05.000 1 INFO m [-] after\n"
    ctx = Context(default_ts_us=DEFAULT_TS)
    _, records, _ = formats.parse_file(text.encode(), "x.txt", ctx, fmt=oslo)
    assert_tiles(records, n + 2)
    parts, after = records[:-1], records[-1]
    assert [p.nlines for p in parts] == [MAX_EVENT_LINES, MAX_EVENT_LINES, 11]
    assert all(FLAG_SPLIT in p.flags for p in parts) and after.flags == ()
    assert {p.ts_us for p in parts} == {us(2024, 2, 13, 10)}
    assert parts[1].message.split("\n")[0] == f"row {MAX_EVENT_LINES - 1}"
    assert all(p.loglevel == "ERROR" for p in parts)


def test_registry() -> None:
    assert formats.FORMATS[-1] is plain
    for fmt in formats.FORMATS:
        assert formats.by_name(fmt.NAME) is fmt
        assert isinstance(fmt.TAGS, tuple)
    assert formats.by_name("no-such-format") is plain
    assert formats.detect([], "empty.txt") is plain
    assert len({f.NAME for f in formats.FORMATS}) == len(formats.FORMATS)
