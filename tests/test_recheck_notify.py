"""Notifications against a real HTTP server on 127.0.0.1 that records what it was sent."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from appliance.recheck.classify import Classification, Match, MatchedEvent
from appliance.recheck.notify import Notifier, NotifySettings


@dataclass
class Recorder:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 200 once they run out."""


@pytest.fixture
def server() -> Iterator[Recorder]:
    rec = Recorder("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": orjson.loads(body)}
            )
            status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b")]}'\n{}")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield rec
    httpd.shutdown()
    httpd.server_close()


UUID = "0123456789abcdef0123456789abcdef"


def classification(*bugs: tuple[str, bool], change: str | None = "829161") -> Classification:
    build = {
        "build_uuid": UUID,
        "build_name": "tempest-full-py3",
        "build_status": "FAILURE",
        "build_patchset": "3",
    }
    if change:
        build["build_change"] = change
    matches = [
        Match(bug, f'message:"boom {bug}"', f"https://bugs.launchpad.net/bugs/{bug}", 2,
              [MatchedEvent("2024-02-13T23:30:00.000000Z", 0, "job-output.txt", 40 + i, 1, f"boom {bug}", "ERROR",
                            7, f"/logs/{UUID}/job-output.txt#L{40 + i}", None)],
              suppress_notification=quiet)
        for i, (bug, quiet) in enumerate(bugs)
    ]  # fmt: skip
    return Classification(UUID, build, found=True, indexed=True, failed=True, matches=matches)


def test_gerrit_review_is_posted_with_basic_auth_and_the_bugs(server: Recorder) -> None:
    n = Notifier(NotifySettings(gerrit_url=server.url, gerrit_user="er-bot", gerrit_password="s3cret",
                                public_url="https://ci-logs.example.org"))  # fmt: skip
    res = n.notify(classification(("1284371", False), ("1999999", False), ("1777777", True)))
    assert res.ok and res.bugs == ["1284371", "1999999"]
    (req,) = server.requests
    assert req["path"] == "/a/changes/829161/revisions/3/review"
    assert base64.b64decode(req["headers"]["Authorization"].split()[1]) == b"er-bot:s3cret"
    msg = req["body"]["message"]
    assert (
        "https://bugs.launchpad.net/bugs/1284371" in msg
        and "https://bugs.launchpad.net/bugs/1999999" in msg
    )
    assert "1777777" not in msg  # suppress-notification
    assert f"https://ci-logs.example.org/logs/{UUID}/job-output.txt#L40" in msg
    assert f"https://ci-logs.example.org/recheck/builds/{UUID}" in msg
    assert "tempest-full-py3" in msg


def test_webhook_gets_the_json_and_nothing_is_sent_without_a_match(server: Recorder) -> None:
    n = Notifier(NotifySettings(webhook_url=server.url + "/hook"))
    assert n.notify(classification()).skipped == "no match to report"
    assert n.notify(classification(("1777777", True))).skipped == "no match to report"
    assert server.requests == []
    res = n.notify(classification(("1284371", False)))
    assert res.ok
    (req,) = server.requests
    assert req["path"] == "/hook" and "Authorization" not in req["headers"]
    body = req["body"]
    assert body["bugs"] == ["1284371"] and body["build_uuid"] == UUID
    assert (
        body["matches"][0]["events"][0]["line"] == 40
        and body["build"]["build_name"] == "tempest-full-py3"
    )


def test_dry_run_prints_and_sends_nothing(server: Recorder) -> None:
    out = io.StringIO()
    n = Notifier(
        NotifySettings(gerrit_url=server.url, webhook_url=server.url + "/hook", dry_run=True),
        out=out,
    )
    res = n.notify(classification(("1284371", False)))
    assert server.requests == []
    assert [d.target for d in res.deliveries] == ["gerrit", "webhook"] and all(
        d.dry_run for d in res.deliveries
    )
    text = out.getvalue()
    assert f"would POST {server.url}/a/changes/829161/revisions/3/review" in text
    assert "https://bugs.launchpad.net/bugs/1284371" in text


def test_not_configured_sends_nothing_but_dry_run_still_shows(server: Recorder) -> None:
    out = io.StringIO()
    n = Notifier(NotifySettings(), out=out)
    assert n.notify(classification(("1", False))).skipped.startswith(
        "notifications are not configured"
    )
    res = n.notify(classification(("1", False)), dry_run=True)
    assert res.deliveries and "would POST" in out.getvalue()


def test_server_errors_are_retried_and_client_errors_are_not(server: Recorder) -> None:
    n = Notifier(NotifySettings(webhook_url=server.url + "/hook", retries=2, backoff_s=0.01))
    server.statuses = [503, 500]
    res = n.notify(classification(("1284371", False)))
    assert res.ok and len(server.requests) == 3
    server.requests.clear()
    server.statuses = [400]
    res = n.notify(classification(("1284371", False)))
    assert not res.ok and len(server.requests) == 1
    assert res.deliveries[0].status == 400 and "HTTP 400" in (res.deliveries[0].error or "")
    assert (n.sent, n.failed) == (1, 1)


def test_a_build_without_change_cannot_be_commented_on(server: Recorder) -> None:
    n = Notifier(NotifySettings(gerrit_url=server.url))
    res = n.notify(classification(("1284371", False), change=None))
    assert not res.ok and res.deliveries[0].error == "the build has no change/patchset"
    assert server.requests == []


def test_settings_come_from_the_config_file_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from appliance import config

    cfg = config.load(env={}, data_dir="/tmp/x")
    cfg = type(cfg)(
        **{
            **cfg.__dict__,
            "extra": {"gerrit_url": "https://review.example.org", "gerrit_user": "bot"},
        }
    )
    monkeypatch.setenv("APPLIANCE_GERRIT_PASSWORD", "from-env")
    monkeypatch.setenv("APPLIANCE_NOTIFY_DRY_RUN", "yes")
    s = NotifySettings.from_config(cfg)
    assert (s.gerrit_url, s.gerrit_user, s.gerrit_password, s.dry_run) == (
        "https://review.example.org",
        "bot",
        "from-env",
        True,
    )
    monkeypatch.setenv("APPLIANCE_NOTIFY_DRY_RUN", "maybe")
    with pytest.raises(ValueError, match="notify_dry_run"):
        NotifySettings.from_config(cfg)
