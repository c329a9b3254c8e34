# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several files into one container in one call: what is there is compared first (content, mode, owner), only what
differs is written, one tar archive per target directory through the Engine API (odoo_docker.Engine).

Plain functions, so that the comparison and the archives are unit-tested without an engine.
"""
from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from dataclasses import dataclass


class FilesError(Exception):
    """A file spec that cannot be written as asked."""


@dataclass(frozen=True)
class Wanted:
    dest: str
    mode: int
    uid: int
    gid: int
    data: bytes

    def summary(self) -> str:
        """One line that says what the file is, never what it holds (contents are often secrets)."""
        return f"{self.dest} {self.mode:04o} {self.uid}:{self.gid} sha256:{hashlib.sha256(self.data).hexdigest()[:16]}"


def parse_mode(mode) -> int:
    """'0600' or '600' (an octal string, as Ansible's file modules take it) to an int; anything else refused."""
    if isinstance(mode, int) or not isinstance(mode, str) or not mode.strip():
        raise FilesError(f"mode must be an octal string such as '0600', got {mode!r}")
    try:
        value = int(mode.strip(), 8)
    except ValueError as exc:
        raise FilesError(f"mode must be an octal string such as '0600', got {mode!r}") from exc
    if value > 0o7777:
        raise FilesError(f"mode {mode!r} is not a file mode")
    return value


def wanted_files(specs: list[dict], uid: int, gid: int, read_src) -> list[Wanted]:
    """The files as asked: each spec has dest (absolute), mode, and content (text) or src (a path that read_src reads
    on the managed host). Two specs for one dest are refused."""
    out, seen = [], set()
    for spec in specs:
        dest = spec.get("dest") or ""
        if not dest.startswith("/") or dest.endswith("/") or posixpath.normpath(dest) != dest:
            raise FilesError(f"dest must be a normalised absolute file path, got {dest!r}")
        if dest in seen:
            raise FilesError(f"{dest} is listed twice")
        seen.add(dest)
        has_content, has_src = spec.get("content") is not None, bool(spec.get("src"))
        if has_content == has_src:
            raise FilesError(f"{dest}: give exactly one of content and src")
        data = spec["content"].encode("utf-8") if has_content else read_src(spec["src"])
        out.append(Wanted(dest, parse_mode(spec.get("mode")), uid, gid, data))
    return out


def current_file(archive: bytes | None) -> tuple[int, int, int, bytes] | None:
    """(mode, uid, gid, data) of the one regular file in a get_archive tar, or None (absent, or not a file)."""
    if not archive:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members = tar.getmembers()
        if len(members) != 1 or not members[0].isfile():
            return None
        member = members[0]
        handle = tar.extractfile(member)
        data = handle.read() if handle else b""
        return member.mode & 0o7777, member.uid, member.gid, data


def differs(want: Wanted, current: tuple[int, int, int, bytes] | None) -> bool:
    return current != (want.mode, want.uid, want.gid, want.data)


def archives(files: list[Wanted], mtime: float) -> dict[str, bytes]:
    """directory -> a tar of the files that go there (names relative to it), one PUT each."""
    by_dir: dict[str, list[Wanted]] = {}
    for want in files:
        by_dir.setdefault(posixpath.dirname(want.dest), []).append(want)
    out = {}
    for directory, group in sorted(by_dir.items()):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for want in group:
                info = tarfile.TarInfo(posixpath.basename(want.dest))
                info.size, info.mode, info.uid, info.gid, info.mtime = (len(want.data), want.mode, want.uid, want.gid,
                                                                        int(mtime))
                tar.addfile(info, io.BytesIO(want.data))
        out[directory] = buf.getvalue()
    return out


def sync(engine, container: str, files: list[Wanted], check_mode: bool, mtime: float) -> dict:
    """Write into container what differs. Returns changed, the changed destinations and a diff of summaries (no
    content). The container may be created and not started: the archive API works on it all the same."""
    info = engine.container(container)
    if info is None:
        raise FilesError(f"container {container} does not exist")
    stale, before = [], []
    for want in files:
        current = current_file(engine.get_archive(info["Id"], want.dest))
        if differs(want, current):
            stale.append(want)
            before.append(f"{want.dest} absent" if current is None else Wanted(want.dest, *current).summary())
    if stale and not check_mode:
        for directory, data in archives(stale, mtime).items():
            engine.put_archive(info["Id"], directory, data)
    return {
        "changed": bool(stale),
        "changed_files": [w.dest for w in stale],
        "diff": {"before": "".join(line + "\n" for line in before),
                 "after": "".join(w.summary() + "\n" for w in stale)},
    }
