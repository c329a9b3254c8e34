"""Process helpers: free ports, waiting, and processes we own (stopped by PID)."""
from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from typing import Callable, Sequence

STATE_DIR = os.environ.get("ODOOOPS_STATE", "/var/tmp/odooops")


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1,
             what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - a probe may fail while a service starts
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def run(cmd: Sequence[str], *, user: str | None = None, check: bool = True, env: dict | None = None,
        input: str | None = None, timeout: float | None = 300) -> subprocess.CompletedProcess:
    """Run a command, optionally as another user (we run as root; PostgreSQL refuses root)."""
    if user and os.geteuid() == 0 and user != "root":
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, env=env, input=input,
                          timeout=timeout)


def ensure_user(name: str, home: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-r", "-m", "-d", home, name], check=True)
        return pwd.getpwnam(name)


class ManagedProcess:
    """A long-running child process we started; stopped by its PID, never by name."""

    def __init__(self, cmd: Sequence[str], *, log_path: str, user: str | None = None, env: dict | None = None,
                 cwd: str | None = None):
        if user and os.geteuid() == 0 and user != "root":
            cmd = ["runuser", "-u", user, "--", *cmd]
        self.cmd = list(cmd)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except OSError:
            return ""
