"""A real ``appliance serve`` process on a loopback port: start, wait until it answers, stop.

Why: load tests and fault tests must exercise what a deployer runs — a separate process
with its own signal handling, shutdown and crash behaviour — not an in-process app.
Servers always bind 127.0.0.1 and run in their own session, so a ``kill -9`` takes the
parser processes they forked down with them (as a container engine would).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def serve_command(port: int, extra: Sequence[str] = (), python: str = sys.executable) -> list[str]:
    return [python, "-m", "appliance.cli", "serve", "--host", LOOPBACK, "--port", str(port), *extra]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def client(self, timeout: float = 30.0, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, **kw)

    def get(self, path: str, timeout: float = 30.0, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout, **kw)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (what a container engine sends), wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL to the whole session: the server and every process it forked."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)


def start(
    data: Path | None,
    *,
    env: dict[str, str] | None = None,
    cmd: Sequence[str] | None = None,
    port: int | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    ready_timeout: float = 120.0,
    extra_args: Sequence[str] = (),
    inherit_env: bool = True,
) -> Server:
    """Start ``appliance serve`` (or ``cmd``) and wait until ``/healthz`` answers 200.

    ``env`` is added to this process's environment; ``APPLIANCE_DATA_DIR`` is set from
    ``data`` unless ``data`` is None (``inherit_env=False``: ``env`` alone). Raises RuntimeError with the server's output if it
    exits or does not answer within ``ready_timeout`` seconds.
    """
    port = port or free_port()
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    if data is not None:
        full_env["APPLIANCE_DATA_DIR"] = str(data)
    log = log or Path(data or cwd or ".") / f"serve-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = list(cmd) if cmd is not None else serve_command(port, extra_args)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=cwd, start_new_session=True
        )
    srv = Server(proc, port, log)
    try:
        wait_ready(srv, ready_timeout)
    except BaseException:
        srv.kill()
        raise
    return srv


def wait_ready(srv: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError(f"server exited with {srv.proc.returncode}:\n{srv.output()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if srv.get("/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer /healthz within {timeout:.0f} s:\n{srv.output()[-3000:]}")


@contextlib.contextmanager
def running(data: Path | None, **kw: Any) -> Iterator[Server]:
    """``with running(data) as srv:`` — stopped with SIGTERM (killed if it hangs) on exit."""
    srv = start(data, **kw)
    try:
        yield srv
    finally:
        if srv.alive():
            with contextlib.suppress(subprocess.TimeoutExpired):
                srv.stop(60)


def wait_for(cond: Any, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``cond()`` until it returns something truthy; TimeoutError past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)
