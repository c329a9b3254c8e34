"""odoo_container_files' logic (plugins/module_utils/odoo/container_files.py): what is compared, what is written, and
that contents never appear in what it returns. The engine is a small in-memory one that stores what was PUT as the
Engine API does (tar members extracted into a directory, with their mode and owner)."""
from __future__ import annotations

import io
import posixpath
import tarfile

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import container_files as cf


class MemoryEngine:
    def __init__(self, files: dict | None = None):
        self.files = dict(files or {})  # path -> (mode, uid, gid, data)
        self.puts: list[str] = []

    def container(self, name):
        return {"Id": "c1"} if name == "web" else None

    def get_archive(self, cid, path):
        if path not in self.files:
            return None
        mode, uid, gid, data = self.files[path]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(posixpath.basename(path))
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
            tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def put_archive(self, cid, directory, data):
        self.puts.append(directory)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers():
                self.files[posixpath.join(directory, member.name)] = (
                    member.mode, member.uid, member.gid, tar.extractfile(member).read())


SPECS = [{"dest": "/etc/odoo/odoo.conf", "mode": "0600", "content": "admin_passwd = s3cret-value\n"},
         {"dest": "/etc/odoo/pg_service.conf", "mode": "0644", "src": "pg_service.conf"},
         {"dest": "/run/odoo/session.env", "mode": "0600", "content": "REDIS=x\n"}]


def wanted(specs=None, uid=101, gid=101):
    return cf.wanted_files(SPECS if specs is None else specs, uid, gid, lambda path: b"[odoo]\nhost=db1\n")


def test_first_call_writes_all_one_archive_per_directory_second_changes_nothing():
    engine = MemoryEngine()
    first = cf.sync(engine, "web", wanted(), check_mode=False, mtime=0)
    assert first["changed"] and sorted(first["changed_files"]) == sorted(s["dest"] for s in SPECS)
    assert sorted(engine.puts) == ["/etc/odoo", "/run/odoo"]
    assert engine.files["/etc/odoo/odoo.conf"] == (0o600, 101, 101, b"admin_passwd = s3cret-value\n")
    assert engine.files["/etc/odoo/pg_service.conf"][3] == b"[odoo]\nhost=db1\n"
    again = cf.sync(engine, "web", wanted(), check_mode=False, mtime=0)
    assert again["changed"] is False and again["changed_files"] == [] and len(engine.puts) == 2


@pytest.mark.parametrize("change", ["content", "mode", "owner"])
def test_only_the_file_that_differs_is_written(change):
    engine = MemoryEngine()
    cf.sync(engine, "web", wanted(), check_mode=False, mtime=0)
    mode, uid, gid, data = engine.files["/etc/odoo/odoo.conf"]
    engine.files["/etc/odoo/odoo.conf"] = {"content": (mode, uid, gid, b"changed by hand"),
                                           "mode": (0o644, uid, gid, data), "owner": (mode, 0, 0, data)}[change]
    res = cf.sync(engine, "web", wanted(), check_mode=False, mtime=0)
    assert res["changed_files"] == ["/etc/odoo/odoo.conf"]
    assert engine.files["/etc/odoo/odoo.conf"] == (0o600, 101, 101, b"admin_passwd = s3cret-value\n")


def test_check_mode_reports_and_writes_nothing():
    engine = MemoryEngine()
    res = cf.sync(engine, "web", wanted(), check_mode=True, mtime=0)
    assert res["changed"] and len(res["changed_files"]) == 3 and engine.files == {} and engine.puts == []


def test_diff_and_result_never_hold_contents():
    engine = MemoryEngine({"/etc/odoo/odoo.conf": (0o600, 101, 101, b"admin_passwd = old-s3cret\n")})
    res = cf.sync(engine, "web", wanted(), check_mode=False, mtime=0)
    text = repr(res)
    assert "s3cret" not in text and "host=db1" not in text
    assert "/etc/odoo/odoo.conf 0600 101:101 sha256:" in res["diff"]["before"]
    assert "/etc/odoo/pg_service.conf absent" in res["diff"]["before"]


@pytest.mark.parametrize("spec, message", [
    ({"dest": "etc/odoo.conf", "mode": "0600", "content": "x"}, "absolute"),
    ({"dest": "/etc/../odoo.conf", "mode": "0600", "content": "x"}, "normalised"),
    ({"dest": "/etc/odoo.conf", "mode": "rw", "content": "x"}, "octal"),
    ({"dest": "/etc/odoo.conf", "mode": 384, "content": "x"}, "octal"),
    ({"dest": "/etc/odoo.conf", "mode": "0600"}, "exactly one"),
    ({"dest": "/etc/odoo.conf", "mode": "0600", "content": "x", "src": "y"}, "exactly one"),
])
def test_bad_specs_are_refused_before_any_write(spec, message):
    with pytest.raises(cf.FilesError, match=message):
        wanted([spec])


def test_a_destination_listed_twice_is_refused():
    with pytest.raises(cf.FilesError, match="twice"):
        wanted([SPECS[0], SPECS[0]])


def test_missing_container_is_a_clear_error():
    with pytest.raises(cf.FilesError, match="does not exist"):
        cf.sync(MemoryEngine(), "nothing-here", wanted(), check_mode=False, mtime=0)
