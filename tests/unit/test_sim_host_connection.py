"""The sim_host connection plugin's parsing of `id -u && id -g` (the retry decides on it)."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.connection.sim_host import parse_ids


@pytest.mark.parametrize("output, expected", [
    (b"0\n0\n", (0, 0)),
    ("101\n101", (101, 101)),
    (b"", None),                     # what a busy engine sometimes answers: ask again
    (b"0\n", None),
    (b"uid\ngid\n", None),
    (None, None),
])
def test_parse_ids(output, expected):
    assert parse_ids(output) == expected
