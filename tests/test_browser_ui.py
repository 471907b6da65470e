"""The UI in a real browser: Debian's chromium driven by playwright, against a real uvicorn.

Flows: query -> hits and highlights, a sidebar filter, the time zoom, a row's context,
log viewer anchors and level filter, script-bearing log lines (never executed), export,
keyboard use, the recheck pages. Screenshots of each page go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import contextlib
import csv
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests import web_fixtures as wf

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
RANGE_QS = "from=2024-02-12T00:00:00Z&to=2024-02-15T00:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(app: object) -> Iterator[str]:
    """A real uvicorn on a free loopback port, in a thread, stopped on exit."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not t.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serve(wf.app(wf.data(tmp_path_factory))) as url:
        yield url


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serve(wf.app(wf.demo_data(tmp_path_factory))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Watch:
    """Dialogs (an executed ``alert``) and console errors (CSP violations) of a page."""

    def __init__(self, page: object) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: self.errors.append(str(e)))  # type: ignore[attr-defined]

    def check(self) -> None:
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture
def page(browser: object) -> Iterator[tuple[object, Watch]]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 850}, accept_downloads=True)  # type: ignore[attr-defined]
    pg = ctx.new_page()
    w = Watch(pg)
    yield pg, w
    ctx.close()
    w.check()


def shot(page: object, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)  # type: ignore[attr-defined]


def wait_js(page: object, expr: str, timeout: float = 5.0) -> None:
    """Poll ``expr`` (page.wait_for_function would need 'unsafe-eval', which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expr):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {expr}")
        time.sleep(0.05)


def total(page: object) -> int:
    return int(page.inner_text("#total").replace(",", ""))  # type: ignore[attr-defined]


def test_query_filter_zoom_context(server: str, page: tuple[object, Watch]) -> None:
    pg, _ = page
    pg.goto(f"{server}/discover?{RANGE_QS}")
    everything = total(pg)
    # "/" focuses the query box; Enter searches
    pg.keyboard.press("/")
    assert pg.evaluate("document.activeElement.id") == "q"
    pg.keyboard.type("build_na")  # completion of field names, then of keyword values
    wait_js(pg, "[...document.querySelectorAll('#qcomp option')].some(o => o.value === 'build_name:')")
    pg.keyboard.type("me:temp")
    wait_js(
        pg,
        "[...document.querySelectorAll('#qcomp option')].some(o => o.value === 'build_name:\"tempest-full\"')"
    )
    pg.fill("#q", "")
    pg.keyboard.type('message:"timed out"')
    with pg.expect_navigation():
        pg.keyboard.press("Enter")
    assert 0 < total(pg) < everything
    marks = pg.locator("table.hits mark")
    assert marks.count() >= 2 and marks.first.inner_text().lower() == "timed out"
    shot(pg, "discover-query")

    # a sidebar value: filter for it -> a pill and fewer hits
    pg.goto(f"{server}/discover?{RANGE_QS}")
    with pg.expect_navigation():
        pg.click('a[aria-label="filter for loglevel: ERROR"]')
    assert pg.locator(".pill").count() == 1 and "loglevel: ERROR" in pg.inner_text(".pill")
    assert 0 < total(pg) < everything
    assert set(pg.locator("td.c-loglevel").all_inner_texts()) == {"ERROR"}
    shot(pg, "discover-filter")
    with pg.expect_navigation():
        pg.click(".pill a.x")
    assert pg.locator(".pill").count() == 0 and total(pg) == everything

    # drag across the histogram: from/to in the URL change
    box = pg.locator("#histo").bounding_box()
    y = box["y"] + box["height"] / 2
    pg.mouse.move(box["x"] + box["width"] * 0.30, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    with pg.expect_navigation():
        pg.mouse.up()
    qs = parse_qs(urlparse(pg.url).query)
    assert qs["from"][0].startswith("2024-02-1") and qs["from"][0].endswith("Z")
    assert qs["from"][0] > "2024-02-12T00:00:00Z" and qs["to"][0] < "2024-02-15T00:00:00Z"
    shot(pg, "discover-zoomed")

    # a row expands with Enter (keyboard), and links to its context
    pg.goto(f"{server}/discover?{RANGE_QS}&q=MessagingTimeout")
    row = pg.locator("tr.row").first
    row.focus()
    pg.keyboard.press("Enter")
    detail = pg.locator("tr.detail").first
    assert detail.is_visible() and row.get_attribute("aria-expanded") == "true"
    assert "build_uuid" in detail.inner_text()
    shot(pg, "discover-expanded")
    with pg.expect_navigation():
        detail.locator("a.to-context").click()
    assert pg.locator(".log .hit").count() >= 1
    assert "MessagingTimeout" in pg.inner_text(".log")
    shot(pg, "context")


def test_log_viewer_anchor_levels_and_script_text(server: str, page: tuple[object, Watch]) -> None:
    pg, _ = page
    url = f"{server}/logs/{wf.FAILED}/{wf.API_LOG}"
    pg.goto(url + "#L5")
    pg.wait_for_selector("#L5.sel")
    assert pg.locator(".log div.sel").count() == 1
    assert pg.locator("#L5").is_visible()
    pg.goto(url + "#L5-L8")
    wait_js(pg, "document.querySelectorAll('.log div.sel').length === 4")
    assert "Traceback" in pg.inner_text("#L5") and "tb" in pg.get_attribute("#L6", "class")
    # the attacker-shaped line is text, nothing ran
    assert wf.SCRIPT_LINE in pg.inner_text("#L9")
    assert pg.evaluate("document.querySelectorAll('#log script, #log img').length") == 0
    shot(pg, "logs")
    # level filter: DEBUG lines hidden, errors kept
    pg.select_option("#level", "warning")
    assert not pg.locator("#L1").is_visible() and not pg.locator("#L2").is_visible()
    assert pg.locator("#L4").is_visible() and pg.locator("#L3").is_visible()
    shot(pg, "logs-warning")
    pg.select_option("#level", "all")
    assert pg.locator("#L1").is_visible()


def test_long_log_opens_at_a_deep_anchor(server: str, page: tuple[object, Watch]) -> None:
    pg, _ = page
    t0 = time.monotonic()
    pg.goto(f"{server}/logs/{wf.PASSED}/{wf.BIG_LOG}#L35000")
    pg.wait_for_selector("#L35000.sel")
    took = time.monotonic() - t0
    top = pg.evaluate("document.getElementById('L35000').getBoundingClientRect().top")
    assert 0 <= top < pg.viewport_size["height"], top
    assert pg.locator(".log .chunk").count() == wf.BIG_LINES // 1000
    assert took < 10, f"{wf.BIG_LINES} lines took {took:.1f} s"
    shot(pg, "logs-long")


def test_script_lines_never_run_in_discover(server: str, page: tuple[object, Watch]) -> None:
    pg, w = page
    pg.goto(f"{server}/discover?{RANGE_QS}&q=alert")
    pg.locator("tr.row").first.click()
    assert "<script>alert(1)</script>" in pg.inner_text("table.hits")
    assert pg.evaluate("document.querySelectorAll('table.hits script, table.hits img').length") == 0
    shot(pg, "discover-script-line")
    assert w.dialogs == []


def test_bad_query_shows_where(server: str, page: tuple[object, Watch]) -> None:
    pg, w = page
    resp = pg.goto(f"{server}/discover?{RANGE_QS}&q=message:(timed OR out")
    assert resp.status == 400
    assert "Expected ')'" in pg.inner_text("#qerr")
    assert pg.input_value("#q") == "message:(timed OR out"
    shot(pg, "discover-error")
    assert all("status of 400" in e for e in w.errors)  # the page's own status, nothing else
    w.errors.clear()


def test_export_downloads_every_hit(server: str, page: tuple[object, Watch]) -> None:
    pg, _ = page
    pg.goto(f"{server}/discover?{RANGE_QS}&q=nova")
    n = total(pg)
    with pg.expect_download() as dl:
        pg.click("#export-csv")
    rows = list(csv.reader(Path(dl.value.path()).read_text().splitlines()))
    assert len(rows) - 1 == n
    with pg.expect_download() as dl:
        pg.click("#export-ndjson")
    assert len(Path(dl.value.path()).read_text().splitlines()) == n


def test_saved_searches_and_refresh(server: str, page: tuple[object, Watch]) -> None:
    pg, _ = page
    pg.goto(f"{server}/discover?{RANGE_QS}&q=filler")
    pg.fill("#save-name", "fillers")
    pg.click("#save-btn")
    pg.goto(f"{server}/discover?{RANGE_QS}")
    with pg.expect_navigation():
        pg.select_option("#saved", "fillers")
    assert "q=filler" in pg.url
    with pg.expect_navigation():
        pg.select_option("#refresh", "10")
    assert "refresh=10" in pg.url
    assert pg.locator("#refresh").input_value() == "10"


def test_recheck_pages(demo_server: str, page: tuple[object, Watch]) -> None:
    pg, _ = page
    pg.goto(f"{demo_server}/recheck")
    assert pg.locator("h1").first.inner_text().startswith("Known bugs")
    assert pg.locator("svg.spark rect.check").count() + pg.locator("svg.spark rect.gate").count() > 0  # by queue
    shot(pg, "recheck", full=True)
    with pg.expect_navigation():
        pg.click("a[href^='/recheck/uncategorized']")
    builds = pg.locator("section.job a[href^='/recheck/builds/']")
    assert builds.count() > 0
    shot(pg, "recheck-uncategorized", full=True)
    # a categorized build: follow a bug's query to Discover, then its build page
    pg.goto(f"{demo_server}/recheck")
    with pg.expect_navigation():
        pg.locator("table.sigs td a code").first.click()
    assert total(pg) > 0 and pg.locator("table.hits mark").count() > 0
    shot(pg, "discover-signature")
    uuid = pg.locator("tr.row").first.get_attribute("data-id")
    assert uuid
    pg.locator("tr.row").first.click()
    href = pg.locator("tr.detail a.to-build").first.get_attribute("href")
    build = parse_qs(urlparse(href).query)["q"][0].split('"')[1]
    pg.goto(f"{demo_server}/recheck/builds/{build}")
    assert build in pg.inner_text("h1")
    shot(pg, "recheck-build", full=True)
    lines = pg.locator("section.match a[href^='/logs/']")
    if lines.count():
        with pg.expect_navigation():
            lines.first.click()
        assert pg.locator(".log div.sel").count() >= 1
        shot(pg, "logs-from-recheck")
