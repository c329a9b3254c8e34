# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters rendering pgBackRest configuration (logic in module_utils/backup/pgbackrest.py)."""
from __future__ import annotations

DOCUMENTATION = r"""
name: pgbackrest_conf
short_description: Render pgbackrest.conf for an S3 repository
description:
  - Takes a mapping with C(stanza), C(pg_nodes), C(repo), optional C(global_options) and C(backup_standby)
    and returns the text of pgbackrest.conf. Fails with a message naming the bad setting.
  - Companion filters C(pgbackrest_archive_settings), C(pgbackrest_cron_entries), C(pgbackrest_restore_args).
options:
  _input:
    description: The settings mapping.
    type: dict
    required: true
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pgbackrest import (
    PgBackRestConfigError,
    archive_settings,
    cron_entries,
    render_conf,
    restore_args,
)


def _wrap(fn):
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PgBackRestConfigError as exc:
            raise AnsibleFilterError(f"pgBackRest settings: {exc}") from exc
    inner.__name__ = fn.__name__
    return inner


@_wrap
def pgbackrest_conf(settings: dict) -> str:
    return render_conf(settings["stanza"], settings["pg_nodes"], settings["repo"], settings.get("global_options"),
                       bool(settings.get("backup_standby", False)))


@_wrap
def pgbackrest_archive_settings(conf_path: str, stanza: str, archive_timeout: int = 60) -> dict:
    return archive_settings(conf_path, stanza, int(archive_timeout))


@_wrap
def pgbackrest_cron_entries(schedules: dict, conf_path: str, stanza: str) -> list:
    return cron_entries(conf_path, stanza, schedules)


@_wrap
def pgbackrest_restore_args(conf_path: str, stanza: str, target_time: str | None = None,
                            target_action: str = "promote") -> list:
    return restore_args(conf_path, stanza, target_time or None, target_action)


class FilterModule:
    def filters(self):
        return {"pgbackrest_conf": pgbackrest_conf, "pgbackrest_archive_settings": pgbackrest_archive_settings,
                "pgbackrest_cron_entries": pgbackrest_cron_entries, "pgbackrest_restore_args": pgbackrest_restore_args}
