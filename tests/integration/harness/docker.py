"""The docker CLI as the tests call it: docker(), and docker_out() for its stdout.

docker() returns the subprocess.CompletedProcess (stdout and stderr as text); docker_out() returns its stdout,
stripped. With check=True (the default) a non-zero exit raises DockerError, which is both a
subprocess.CalledProcessError (as subprocess.run(check=True) raises) and an AssertionError (a failed docker
command in a test is a failed expectation), its message with the command's stderr.
"""
from __future__ import annotations

import subprocess

# seconds: long enough for a busy engine to answer a ps, an exec or a short run; pass timeout=None for none
TIMEOUT = 120


class DockerError(subprocess.CalledProcessError, AssertionError):
    """A docker command that exited non-zero where check=True."""

    def __str__(self) -> str:
        return f"docker {' '.join(self.cmd[1:])}: exit status {self.returncode}: {self.stderr}"


def docker(*args: str, check: bool = True, input: str | None = None,
           timeout: float | None = TIMEOUT) -> subprocess.CompletedProcess:
    """docker <args>, its output captured as text; input goes to its stdin."""
    res = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=timeout,
                         input=input)
    if check and res.returncode != 0:
        raise DockerError(res.returncode, res.args, res.stdout, res.stderr)
    return res


def docker_out(*args: str, check: bool = True, input: str | None = None, timeout: float | None = None) -> str:
    """docker()'s stdout, stripped. No timeout unless one is given (as the helpers of the edge and upgrade tests
    it replaces: some of their commands build or run an Odoo init)."""
    return docker(*args, check=check, input=input, timeout=timeout).stdout.strip()
