# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest configuration for continuous WAL archiving and PITR on an S3 repository.

One renderer used by the role's template (through the ``odooops.hosting.pgbackrest_conf`` filter) and by the
tests, so what is tested is what is deployed. Plain Python, no Ansible imports.

Facts this relies on (pgBackRest 2.45, Debian 12):
- pgBackRest speaks HTTPS only to S3; ``repo1-s3-uri-style=path`` for endpoints without virtual hosts.
- the configuration file has no inline comments: a ``#`` after a value is part of the value.
- keys and the repository cipher pass live only in this file (0600, owned by postgres) or in the env.
"""
from __future__ import annotations

import re

STANZA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CIPHER_TYPES = ("none", "aes-256-cbc")
BACKUP_TYPES = ("full", "diff", "incr")


class PgBackRestConfigError(ValueError):
    """The pgBackRest settings are incomplete or inconsistent; the message names the setting."""


def _check_value(name: str, value) -> str:
    text = "y" if value is True else "n" if value is False else str(value)
    if "\n" in text or "\r" in text:
        raise PgBackRestConfigError(f"{name}: value must be on one line")
    if text != text.strip():
        raise PgBackRestConfigError(f"{name}: value must not start or end with spaces")
    return text


def repo_options(repo: dict) -> dict:
    """repo1-* options from {type, bucket, endpoint, port, region, key, key_secret, path, uri_style,
    verify_tls, ca_file, cipher_type, cipher_pass, retention_full, retention_diff, bundle}."""
    rtype = repo.get("type", "s3")
    opts: dict = {"repo1-type": rtype, "repo1-path": repo.get("path", "/pgbackrest")}
    if rtype == "s3":
        for field in ("bucket", "endpoint", "region", "key", "key_secret"):
            if not repo.get(field):
                raise PgBackRestConfigError(f"S3 repository needs '{field}'")
        opts.update({"repo1-s3-bucket": repo["bucket"], "repo1-s3-endpoint": repo["endpoint"],
                     "repo1-s3-region": repo["region"], "repo1-s3-key": repo["key"],
                     "repo1-s3-key-secret": repo["key_secret"],
                     "repo1-s3-uri-style": repo.get("uri_style", "path")})
        if repo.get("port"):
            opts["repo1-storage-port"] = int(repo["port"])
        if repo.get("ca_file"):
            opts["repo1-storage-ca-file"] = repo["ca_file"]
        if repo.get("verify_tls") is False:
            opts["repo1-storage-verify-tls"] = False
    elif rtype != "posix":
        raise PgBackRestConfigError(f"repository type {rtype!r} is not supported (s3 or posix)")
    cipher = repo.get("cipher_type", "aes-256-cbc")
    if cipher not in CIPHER_TYPES:
        raise PgBackRestConfigError(f"cipher_type must be one of {', '.join(CIPHER_TYPES)}")
    if cipher != "none":
        if len(repo.get("cipher_pass") or "") < 20:
            raise PgBackRestConfigError("cipher_pass must be at least 20 characters (use a random value from the "
                                        "vault)")
        opts["repo1-cipher-type"] = cipher
        opts["repo1-cipher-pass"] = repo["cipher_pass"]
    opts["repo1-retention-full"] = int(repo.get("retention_full", 2))
    if repo.get("retention_diff"):
        opts["repo1-retention-diff"] = int(repo["retention_diff"])
    opts["repo1-bundle"] = bool(repo.get("bundle", True))
    return opts


def render_conf(stanza: str, pg_nodes: list[dict], repo: dict, global_options: dict | None = None,
                backup_standby: bool = False) -> str:
    """The text of pgbackrest.conf.

    pg_nodes: [{path, port, socket_path?, host?, host_user?, host_type?}], the primary first. With
    backup_standby, pgBackRest copies files from a standby (pg2..) and only coordinates with the primary.
    """
    if not STANZA_RE.match(stanza or ""):
        raise PgBackRestConfigError(f"invalid stanza name {stanza!r}")
    if not pg_nodes:
        raise PgBackRestConfigError("at least one PostgreSQL node (pg1) is needed")
    if backup_standby and len(pg_nodes) < 2:
        raise PgBackRestConfigError("backup_standby needs the primary and at least one standby in pg_nodes")
    glob = {**repo_options(repo), "start-fast": True, "compress-type": "lz4", "process-max": 2,
            "log-level-console": "info", "log-level-file": "detail"}
    glob.update(global_options or {})
    if backup_standby:
        glob["backup-standby"] = True
    lines = ["[global]"]
    lines += [f"{k}={_check_value(k, v)}" for k, v in glob.items() if v is not None]
    lines += ["", f"[{stanza}]"]
    for i, node in enumerate(pg_nodes, start=1):
        if not node.get("path"):
            raise PgBackRestConfigError(f"pg{i}: 'path' (data directory) is required")
        for field, opt in (("host", "host"), ("host_user", "host-user"), ("host_type", "host-type"),
                           ("path", "path"), ("port", "port"), ("socket_path", "socket-path"),
                           ("user", "user"), ("database", "database")):
            if node.get(field) not in (None, ""):
                lines.append(f"pg{i}-{opt}={_check_value(f'pg{i}-{opt}', node[field])}")
    return "\n".join(lines) + "\n"


def archive_settings(conf_path: str, stanza: str, archive_timeout: int = 60) -> dict:
    """postgresql.conf settings for continuous archiving (values quoted for postgresql.conf)."""
    if archive_timeout < 1:
        raise PgBackRestConfigError("archive_timeout must be at least 1 second")
    return {"archive_mode": "on", "wal_level": "replica",
            "archive_command": f"'pgbackrest --config={conf_path} --stanza={stanza} archive-push %p'",
            "archive_timeout": f"'{int(archive_timeout)}s'"}


def restore_args(conf_path: str, stanza: str, target_time: str | None = None, target_action: str = "promote",
                 delta: bool = True) -> list[str]:
    """pgbackrest restore arguments: to target_time (PostgreSQL timestamp with zone) or to the end of the archive."""
    if target_action not in ("promote", "pause", "shutdown"):
        raise PgBackRestConfigError("target_action must be promote, pause or shutdown")
    args = ["pgbackrest", f"--config={conf_path}", f"--stanza={stanza}"]
    if delta:
        args.append("--delta")
    if target_time:
        if not re.match(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z| UTC)?$",
                        target_time):
            raise PgBackRestConfigError(f"target_time {target_time!r} is not a timestamp like "
                                        "'2026-11-27 10:15:00+00'")
        args += ["--type=time", f"--target={target_time}", f"--target-action={target_action}"]
    else:
        args.append("--type=default")
    return args + ["restore"]


def cron_entries(conf_path: str, stanza: str, schedules: dict) -> list[dict]:
    """{full: "0 1 * * 0", diff: "0 1 * * 1-6", incr: "0 */4 * * *"} -> cron entries (name, minute, ...)."""
    out = []
    for btype, spec in (schedules or {}).items():
        if btype not in BACKUP_TYPES:
            raise PgBackRestConfigError(f"unknown backup type {btype!r} (full, diff, incr)")
        if not spec:
            continue
        fields = spec.split()
        if len(fields) != 5:
            raise PgBackRestConfigError(f"schedule for {btype} must have 5 cron fields, got {spec!r}")
        out.append({"name": f"pgbackrest {stanza} {btype} backup", "minute": fields[0], "hour": fields[1],
                    "day": fields[2], "month": fields[3], "weekday": fields[4],
                    "job": f"pgbackrest --config={conf_path} --stanza={stanza} --type={btype} backup"})
    return out
