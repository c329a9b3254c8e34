"""module_utils/upgrade/state: the record of an upgrade in progress, written atomically, root-only."""
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import state as upgrade_state


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_0600_in_a_0700_directory_and_replaced_whole(tmp_path):
    path = tmp_path / "upgrade" / "shop.json"
    assert upgrade_state.write(str(path), {"stage": "maintenance", "web_before": ["a", "b"]})
    assert json.loads(path.read_text()) == {"stage": "maintenance", "web_before": ["a", "b"]}
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert not upgrade_state.write(str(path), {"web_before": ["a", "b"], "stage": "maintenance"})  # same content
    assert upgrade_state.write(str(path), {"stage": "snapshot"})
    assert json.loads(path.read_text()) == {"stage": "snapshot"}
    assert os.listdir(path.parent) == ["shop.json"]  # no temporary file left behind
    assert upgrade_state.remove(str(path)) and not upgrade_state.remove(str(path))


def test_an_open_directory_is_closed_to_others(tmp_path):
    directory = tmp_path / "upgrade"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    upgrade_state.write(str(directory / "shop.json"), {"stage": "update"})
    assert mode(directory) == 0o700


def test_a_file_where_the_directory_should_be_is_an_error(tmp_path):
    (tmp_path / "upgrade").write_text("not a directory")
    with pytest.raises(OSError):
        upgrade_state.write(str(tmp_path / "upgrade" / "shop.json"), {"stage": "update"})
