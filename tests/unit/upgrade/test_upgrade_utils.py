from __future__ import annotations

import struct

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import demux
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import anonymise as an
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap


@pytest.mark.parametrize("version,series,adapted", [
    ("1.3", "17.0", "17.0.1.3"), ("17.0.1.3", "17.0", "17.0.1.3"), ("17.0", "17.0", "17.0.17.0"),
    ("2.0", None, "2.0"), ("16.0.1.0", "17.0", "17.0.16.0.1.0"),
])
def test_adapt_version_as_odoo(version, series, adapted):
    assert um.adapt_version(version, series) == adapted


def test_diff_versions_finds_changed_and_missing():
    image = {"base": "1.3", "stock": "1.2", "point_of_sale": "17.0.1.0.2"}
    installed = {"base": "17.0.1.3", "stock": "17.0.1.1", "point_of_sale": "17.0.1.0.1", "pos_custom": "17.0.1.0"}
    d = um.diff_versions(image, installed, "17.0")
    assert d["changed"] == {"stock": {"from": "17.0.1.1", "to": "17.0.1.2"},
                            "point_of_sale": {"from": "17.0.1.0.1", "to": "17.0.1.0.2"}}
    assert d["missing"] == ["pos_custom"]


# release.py texts written for these tests in the shapes Odoo's own file takes (community, a nightly build with an
# edition suffix, a SaaS series, an older file with literal strings)
RELEASE_COMMUNITY = """# release data of a packaged server (a sample written for these tests)
ALPHA, BETA, RC, FINAL = 'alpha', 'beta', 'candidate', 'final'
LEVEL_SUFFIX = {ALPHA: 'a', BETA: 'b', RC: 'rc', FINAL: ''}

# (major, minor, micro, level, serial, edition)
version_info = (18, 0, 0, FINAL, 0, '')
serie = series = major_version = '%s.%s' % version_info[:2]
version = serie + LEVEL_SUFFIX[version_info[3]] + str(version_info[4] or '') + version_info[5]
"""
RELEASE_NIGHTLY = RELEASE_COMMUNITY.replace("version_info = (18, 0, 0, FINAL, 0, '')",
                                            "version_info = (18, 0, 0, FINAL, 20241005, '+e')")
RELEASE_SAAS = RELEASE_COMMUNITY.replace("(18, 0, 0, FINAL, 0, '')", "('saas~17', 4, 0, FINAL, 0, '')")
RELEASE_LITERAL = "version_info = compute_it()\nserie = '16.0'\nversion = '16.0'\n"
RELEASE_NEWER_SYNTAX = "version_info = (19, 0, 0, FINAL, 0, '')\ntype Alias = int\nmatch x:\n  case 1: pass\n"


@pytest.mark.parametrize("text,series", [
    (RELEASE_COMMUNITY, "18.0"), (RELEASE_NIGHTLY, "18.0"), (RELEASE_SAAS, "saas~17.4"),
    (RELEASE_LITERAL, "16.0"), (RELEASE_NEWER_SYNTAX, "19.0"),
    ("version_info = (17, 0, 0, 'final', 0)\n", "17.0"),
    ("", None), ("import os\nprint('no version here')\n", None), ("version_info = sys.version_info\n", None),
    ("version_info = ('final', 'x')\n", None), ("serie = 'nightly'\n", None),
])
def test_series_from_release_text(text, series):
    assert um.series_from_release(text) == series


@pytest.mark.parametrize("text,fields", [
    (RELEASE_COMMUNITY, {"version": "18.0", "version_info": [18, 0, 0, "final", 0, ""], "major_version": "18.0"}),
    # a nightly build's edition suffix: release.version is what Odoo's dump manifest carries, not the series
    (RELEASE_COMMUNITY.replace("0, FINAL, 0, '')", "0, FINAL, 0, '+e-20241005')"),
     {"version": "18.0+e-20241005", "version_info": [18, 0, 0, "final", 0, "+e-20241005"], "major_version": "18.0"}),
    (RELEASE_COMMUNITY.replace("0, FINAL, 0, '')", "0, BETA, 1, '')"),
     {"version": "18.0b1", "version_info": [18, 0, 0, "beta", 1, ""], "major_version": "18.0"}),
    (RELEASE_SAAS, {"version": "saas~17.4", "version_info": ["saas~17", 4, 0, "final", 0, ""],
                    "major_version": "saas~17.4"}),
    (RELEASE_LITERAL, {"version": "16.0", "version_info": [16, 0, 0, "final", 0, ""], "major_version": "16.0"}),
    ("version_info = (17, 0, 0, 'final', 0, '')\nversion = '17.0+e-20240101'\n",
     {"version": "17.0+e-20240101", "version_info": [17, 0, 0, "final", 0, ""], "major_version": "17.0"}),
    ("import os\n", None),
])
def test_release_fields_as_odoos_dump_manifest(text, fields):
    assert um.release_fields(text) == fields


def test_release_file_picked_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    hostile = f"open({str(marker)!r}, 'w').write('x')\nversion_info = (17, 0, 0, 'final', 0, '')\n"
    assert um.series_from_release(hostile) == "17.0" and not marker.exists()
    releases = [{"path": "/usr/bin/odoo/release.py", "text": "garbage ("},
                {"path": "/opt/odoo/odoo/release.py", "text": RELEASE_COMMUNITY},
                {"path": "/usr/lib/python3/dist-packages/odoo/release.py", "text": RELEASE_SAAS}]
    assert um.pick_release(releases) == ("18.0", "/opt/odoo/odoo/release.py")
    assert um.pick_release([]) == (None, None)
    # base's manifest says 1.3 in every series: it gives no series, the versions are adapted with the release's
    assert um.diff_versions({"base": "1.3"}, {"base": "18.0.1.3"}, "18.0") == {"changed": {}, "missing": []}


def test_redact_and_secret_env():
    assert um.redact("db_password = s3cr3t-pw, again s3cr3t-pw", ["s3cr3t-pw", "ab"]) == \
        "db_password = ********, again ********"
    spec = um.ContainerSpec.__new__(um.ContainerSpec)
    spec.env = ["PGPASSWORD=hunter22", "PGSERVICE=odoo", "S3_SECRET_KEY=k3y-value", "PATH=/usr/bin"]
    assert spec.secrets() == ["hunter22", "k3y-value"]


def test_demux_docker_log_frames():
    frames = b"".join(bytes([stream, 0, 0, 0]) + struct.pack(">I", len(p)) + p
                      for stream, p in ((1, b"out line\n"), (2, b"err line\n")))
    assert demux(frames) == "out line\nerr line\n"
    assert demux(b"tty output") == "tty output"


def test_pseudonyms_are_deterministic_keyed_and_shaped():
    k1, k2 = b"k" * 32, b"j" * 32
    assert an.pseudonym(k1, "res_partner", "email", 7, "email") == an.pseudonym(k1, "res_partner", "email", 7, "email")
    assert an.pseudonym(k1, "res_partner", "email", 7, "email") != an.pseudonym(k2, "res_partner", "email", 7, "email")
    assert an.pseudonym(k1, "res_partner", "email", 7, "email").endswith("@example.invalid")
    assert an.pseudonym(k1, "res_partner", "phone", 7, "phone").startswith("+99 ")
    assert an.pseudonym(k1, "res_partner", "vat", 7, "blank") is None


def test_snapshot_names_fit_postgres_identifiers():
    long = "x" * 63
    assert len(snap.default_snapshot_name(long)) == 63 and snap.default_snapshot_name(long) != long
    assert snap.default_snapshot_name(long).endswith("__pre_upgrade")
    assert len(snap.failed_name(long, "20260101000000")) == 63
    assert snap.failed_name("odoo", "1") == "odoo__failed_1"


class _OneContainerEngine:
    """The two engine calls ContainerSpec makes, answered from a stored inspect document."""

    def __init__(self, labels: dict | None):
        self.ref = {"Id": "c0ffee", "Image": "sha256:old", "Config": {"Labels": labels, "Env": ["A=1"], "User": "101"},
                    "Mounts": [], "HostConfig": {}, "NetworkSettings": {"Networks": {"lan": {}}}}

    def container(self, name):
        return self.ref if name == "web-0" else None

    def image(self, ref):
        return {"Config": {"Env": []}}


def test_update_one_shot_carries_its_stack_and_database():
    spec = um.ContainerSpec(_OneContainerEngine({"org.odooops.stack": "shop"}), "web-0")
    assert um.update_labels(spec, "odoo") == {"org.odooops.purpose": "module-update",
                                              "org.odooops.database": "odoo", "org.odooops.stack": "shop"}
    unlabelled = um.ContainerSpec(_OneContainerEngine(None), "web-0")
    assert um.update_labels(unlabelled, "odoo") == {"org.odooops.purpose": "module-update",
                                                    "org.odooops.database": "odoo"}
    with pytest.raises(um.UpdateError, match="does not exist"):
        um.ContainerSpec(_OneContainerEngine({}), "web-9")
