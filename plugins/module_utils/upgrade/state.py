# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of an upgrade in progress on an app host: one JSON file, root-only, replaced atomically.

playbooks/upgrade.yml writes it before each stage changes anything, so that a later run finds what a dead run
left (tasks/upgrade_recover.yml). It is written inside the maintenance window, once per stage: one module call
(directory, temporary file, fsync, rename) instead of a directory task and a copy.
"""
from __future__ import annotations

import json
import os
import stat
import tempfile


class StateError(Exception):
    """The record cannot be written where asked; the message says why."""


def write(path: str, record: dict) -> bool:
    """Write record to path (0600, its directory 0700, created when missing); True when the content changed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    mode = stat.S_IMODE(os.stat(directory).st_mode)
    if mode & 0o077:
        os.chmod(directory, mode & 0o700)
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    try:
        with open(path, "rb") as fh:
            if fh.read() == data and stat.S_IMODE(os.fstat(fh.fileno()).st_mode) == 0o600:
                return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".upgrade-state-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise StateError(f"cannot write {path}: {exc}") from exc
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return True


def remove(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
