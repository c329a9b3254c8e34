# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The point-in-time half of a DR drill: restore the pgBackRest repository to a point in time into a scratch
PostgreSQL instance beside the production cluster, prove what came back, remove the scratch instance.

Plain Python (subprocess + psql), no Ansible imports. It runs on a db host, as the cluster owner (postgres) or as
root (commands are then run through ``runuser -u postgres``).

Target modes (``target``):
- ``marker`` (default): the drill writes a marker row on the primary (``odooops_drill.pitr_marker`` in the
  ``postgres`` database, which pgBackRest restores even with ``--db-include``), takes the
  target time just after its commit, writes a second marker, has both archived (``pgbackrest check``), then
  restores to the target: the first marker must be there and the second must not. This proves recovery to an
  exact time with the WAL archive as it is now.
- ``latest``: one marker is written and archived; recovery runs to the end of the archive; the marker must be
  there (nothing archived was lost).
- a timestamp (``2026-11-27 10:15:00+00``): recovery to that time; markers of earlier drills in the ledger must
  be there if written before it (1 s margin) and absent if written after it; the last replayed commit must not
  be later than the target.

Safety of the scratch instance: an empty private directory, every tablespace remapped inside it
(``--tablespace-map-all``), archiving off (``--archive-mode=off`` and ``-c archive_mode=off``, so it never
pushes WAL of its new timeline into the production repository), no TCP listener (``listen_addresses=''``, a
0700 socket directory), its own configuration and pg_hba (the data directory of a Debian cluster has none).
With ``databases``, pgBackRest restores only those (``--db-include``): less disk and time than the whole cluster.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
import uuid

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pgbackrest import STANZA_RE, PgBackRestConfigError

MARKER_DB = "postgres"  # always restored, even with --db-include
MARKER_TABLE = "odooops_drill.pitr_marker"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z| UTC)?$")
DB_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
KEY_TABLES = ("res_partner", "res_users", "ir_attachment", "product_product", "sale_order", "stock_move",
              "account_move", "mail_message")


class PitrDrillError(Exception):
    """The PITR drill cannot run (bad settings, no repository, no backup); the message says what to fix."""


def parse_ts(value) -> dt.datetime | None:
    if value in (None, ""):
        return None
    text = str(value).strip().replace(" UTC", "+00:00")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d{2})$", r"\1:00", text)
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def check_settings(*, stanza: str, target: str, scratch_dir: str, databases: list[str]) -> str:
    """Validate before anything is done; returns the mode: marker, latest or time."""
    if not STANZA_RE.match(stanza or ""):
        raise PitrDrillError(f"invalid stanza name {stanza!r}")
    if not scratch_dir or not os.path.isabs(scratch_dir) or os.path.normpath(scratch_dir) == "/":
        raise PitrDrillError(f"scratch_dir must be an absolute path below /, got {scratch_dir!r}")
    for name in databases:
        if not DB_RE.match(name):
            raise PitrDrillError(f"invalid database name {name!r}")
    target = (target or "marker").strip()
    if target in ("marker", "latest"):
        return target
    if not TS_RE.match(target):
        raise PitrDrillError(f"target {target!r} is neither 'marker', 'latest' nor a timestamp like "
                             "'2026-11-27 10:15:00+00'")
    return "time"


def scratch_restore_args(conf_path: str, stanza: str, data_dir: str, *, target_time: str | None = None,
                         databases: list[str] | tuple = ()) -> list[str]:
    """pgbackrest restore into a scratch data directory (never the cluster's own pg1-path)."""
    args = ["pgbackrest", f"--config={conf_path}", f"--stanza={stanza}", f"--pg1-path={data_dir}",
            "--archive-mode=off", f"--tablespace-map-all={os.path.join(os.path.dirname(data_dir), 'tblspc')}",
            "--log-level-console=warn"]
    args += [f"--db-include={name}" for name in databases]
    if target_time:
        args += ["--type=time", f"--target={target_time}", "--target-action=promote"]
    else:
        args.append("--type=default")
    return args + ["restore"]


def scratch_server_options(base: str, port: int) -> list[str]:
    """postgres -c options of the scratch instance (they override whatever the restored auto.conf says)."""
    return ["-c", f"config_file={os.path.join(base, 'drill.conf')}",
            "-c", f"hba_file={os.path.join(base, 'pg_hba.conf')}",
            "-c", f"ident_file={os.path.join(base, 'pg_ident.conf')}",
            "-c", f"port={int(port)}", "-c", "listen_addresses=", "-c", f"unix_socket_directories={base}/sock",
            "-c", "unix_socket_permissions=0700", "-c", "archive_mode=off", "-c", "hot_standby=off",
            "-c", "max_connections=20", "-c", "shared_buffers=128MB", "-c", "max_wal_senders=0",
            "-c", "cluster_name=odooops-drill", "-c", "logging_collector=off"]


class Runner:
    """Runs commands as the cluster owner: directly when we are that user, through runuser when root."""

    def __init__(self, user: str = "postgres", pg_bin: str = "/usr/lib/postgresql/15/bin"):
        self.user = user
        self.pg_bin = pg_bin
        self.as_root = os.geteuid() == 0 and user != "root"

    def cmd(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.as_root else list(args)

    def run(self, args: list[str], timeout: float = 600, check: bool = True, what: str = "") -> str:
        try:
            res = subprocess.run(self.cmd(args), check=False, capture_output=True, text=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise PitrDrillError(f"{what or args[0]} did not finish within {timeout} s") from exc
        if check and res.returncode != 0:
            tail = (res.stderr or res.stdout or "").strip()[-1500:]
            raise PitrDrillError(f"{what or args[0]} failed (exit {res.returncode}): {tail}")
        return res.stdout

    def psql(self, sql: str, *, socket: str, port: int, db: str = "postgres", check: bool = True) -> str:
        return self.run([os.path.join(self.pg_bin, "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", socket,
                         "-p", str(port), "-U", "postgres", "-d", db, "-c", sql],
                        timeout=120, check=check, what=f"psql on {db}").strip()

    def chown(self, path: str) -> None:
        if self.as_root:
            shutil.chown(path, self.user, self.user)


def _q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _marker_setup(r: Runner, socket: str, port: int) -> None:
    r.psql("CREATE SCHEMA IF NOT EXISTS odooops_drill; CREATE TABLE IF NOT EXISTS odooops_drill.pitr_marker ("
           "drill_id text NOT NULL, phase text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), "
           "PRIMARY KEY (drill_id, phase))", socket=socket, port=port, db=MARKER_DB)


def _marker(r: Runner, socket: str, port: int, drill_id: str, phase: str) -> str:
    """Insert a marker (its own committed transaction); returns its time."""
    return r.psql(f"INSERT INTO {MARKER_TABLE} (drill_id, phase) VALUES ({_q(drill_id)}, {_q(phase)}) RETURNING at",
                  socket=socket, port=port, db=MARKER_DB)


def _wait_ready(r: Runner, sock: str, port: int, data_dir: str, log: str, timeout: float) -> None:
    """Until the scratch instance accepts connections and is out of recovery; fails when it stops."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    seen = False
    while True:
        out = r.run([os.path.join(r.pg_bin, "psql"), "-XAtq", "-h", sock, "-p", str(port), "-U", "postgres",
                     "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"], timeout=30, check=False)
        if out.strip() == "f":
            return
        running = os.path.exists(os.path.join(data_dir, "postmaster.pid"))
        seen = seen or running
        if not running and (seen or time.monotonic() - t0 > 20):
            raise PitrDrillError(f"the scratch instance stopped during recovery: {_log_tail(log)}")
        if time.monotonic() > deadline:
            raise PitrDrillError(f"recovery did not finish within {timeout} s: {_log_tail(log)}")
        time.sleep(0.5)


def _log_tail(path: str, lines: int = 8) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return " | ".join(line.strip() for line in fh.readlines()[-lines:])
    except OSError:
        return "(no log)"


def pitr_drill(*, conf_path: str, stanza: str, scratch_dir: str, target: str = "marker",
               databases: list[str] | tuple = (), source_socket: str = "/var/run/postgresql",
               source_port: int = 5432, scratch_port: int = 54329, runner: Runner | None = None,
               recovery_timeout: float = 1800, keep: bool = False) -> dict:
    """Run the PITR drill; returns {mode, target_time, newest_archived, recovered_to, rpo_s, rto_s, timings,
    checks, passed, started_at, finished_at}. The scratch instance and directory are always removed (unless
    keep). Raises PitrDrillError only for settings that prevent the drill from starting."""
    r = runner or Runner()
    databases = list(databases)
    mode = check_settings(stanza=stanza, target=target, scratch_dir=scratch_dir, databases=databases)
    if not os.path.isfile(conf_path):
        raise PitrDrillError(f"{conf_path} does not exist: pgBackRest is not configured on this host")
    started = dt.datetime.now(dt.UTC)
    result: dict = {"mode": mode, "stanza": stanza, "started_at": started.isoformat(), "checks": [],
                    "timings": {}, "databases": databases}
    checks = result["checks"]

    def check(name, ok, detail=""):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    pgbr = ["pgbackrest", f"--config={conf_path}", f"--stanza={stanza}", "--log-level-console=warn"]
    base = os.path.join(scratch_dir, f"pitr-{started.strftime('%Y%m%d%H%M%S')}")
    data_dir = os.path.join(base, "data")
    log = os.path.join(base, "postgres.log")
    drill_id = f"{started.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
    result["drill_id"] = drill_id
    try:
        # the newest recoverable point when the drill starts (before the drill's own WAL switch)
        newest = r.psql("SELECT coalesce(last_archived_time::text, '') FROM pg_stat_archiver",
                        socket=source_socket, port=source_port)
        result["newest_archived"] = parse_ts(newest).isoformat() if newest else None
        result["rpo_s"] = round((started - parse_ts(newest)).total_seconds(), 1) if newest else None

        target_time = None
        repo = repository_info(conf_path, stanza, r)
        result["repository"] = repo
        # pgBackRest keeps backup stop times in whole seconds and restores to a time only from a backup that
        # stopped before it: a target within the second after the newest backup's stop finds no backup
        wait = (repo.get("latest_stop") or 0) + 1.1 - time.time()
        if mode == "marker" and 0 < wait < 5:
            time.sleep(wait)
        if mode in ("marker", "latest"):
            _marker_setup(r, source_socket, source_port)
            before = _marker(r, source_socket, source_port, drill_id, "before")
            result["marker_before_at"] = before
            if mode == "marker":
                target_time = r.psql("SELECT clock_timestamp()", socket=source_socket, port=source_port)
                time.sleep(0.05)
                result["marker_after_at"] = _marker(r, source_socket, source_port, drill_id, "after")
        else:
            target_time = target
        result["target_time"] = target_time
        t0 = time.monotonic()
        r.run(pgbr + ["check"], timeout=300, what="pgbackrest check (WAL switch archived)")
        check("archive", True, f"pgbackrest check: the current WAL segment reached the repository in "
                               f"{time.monotonic() - t0:.1f} s")

        os.makedirs(base, mode=0o700)
        r.chown(base)
        for sub in ("data", "sock"):
            os.mkdir(os.path.join(base, sub), 0o700)
            r.chown(os.path.join(base, sub))
        files = {"drill.conf": "# odooops DR drill scratch instance (settings are given on the command line)\n",
                 "pg_hba.conf": "local all all trust\n", "pg_ident.conf": ""}
        for name, text in files.items():
            with open(os.path.join(base, name), "w", encoding="utf-8") as fh:
                fh.write(text)
            r.chown(os.path.join(base, name))

        t0 = time.monotonic()
        try:
            r.run(scratch_restore_args(conf_path, stanza, data_dir, target_time=target_time,
                                       databases=databases),
                  timeout=recovery_timeout, what="pgbackrest restore into the scratch directory")
        except PitrDrillError as exc:
            check("restore", False, str(exc))
            raise
        restore_s = round(time.monotonic() - t0, 3)
        check("restore", True, f"pgbackrest restore into {data_dir} in {restore_s} s")

        t0 = time.monotonic()
        try:
            r.run([os.path.join(r.pg_bin, "pg_ctl"), "-D", data_dir, "-l", log, "-W", "-o",
                   " ".join(_shell_word(o) for o in scratch_server_options(base, scratch_port)), "start"],
                  timeout=60, what="pg_ctl start of the scratch instance")
            _wait_ready(r, os.path.join(base, "sock"), scratch_port, data_dir, log, recovery_timeout)
        except PitrDrillError as exc:
            check("recovery", False, str(exc))
            raise
        recovery_s = round(time.monotonic() - t0, 3)
        result["timings"] = {"restore_s": restore_s, "recovery_s": recovery_s,
                             "total_s": round(restore_s + recovery_s, 3)}
        result["rto_s"] = result["timings"]["total_s"]
        sock = os.path.join(base, "sock")

        def sq(sql, db="postgres", must=True):
            return r.psql(sql, socket=sock, port=scratch_port, db=db, check=must)

        recovered_to = sq("SELECT coalesce(pg_last_xact_replay_timestamp()::text, '')")
        result["recovered_to"] = parse_ts(recovered_to).isoformat() if recovered_to else None
        check("recovery", True, f"WAL replayed and promoted in {recovery_s} s, last replayed commit "
                                f"{result['recovered_to']}")
        if target_time:
            ok = recovered_to and parse_ts(recovered_to) <= parse_ts(target_time)
            check("target", ok, f"last replayed commit {result['recovered_to']} <= target {target_time}")

        if mode in ("marker", "latest"):
            rows = sq(f"SELECT phase FROM {MARKER_TABLE} WHERE drill_id = {_q(drill_id)} ORDER BY phase", db=MARKER_DB)
            phases = rows.split()
            check("marker_before", "before" in phases,
                  f"marker written {result['marker_before_at']} (before the target) "
                  f"{'present' if 'before' in phases else 'MISSING'}")
            if mode == "marker":
                check("marker_after", "after" not in phases,
                      f"marker written {result['marker_after_at']} (after the target) "
                      f"{'absent' if 'after' not in phases else 'PRESENT'}")
        else:
            ledger_check(r, check, source_socket, source_port, sq, target_time)

        for name in databases:
            present = sq(f"SELECT 1 FROM pg_database WHERE datname = {_q(name)}") == "1"
            if not present:
                check(f"database:{name}", False, "not in the restored cluster")
                continue
            counts = {}
            for table in KEY_TABLES + ("ir_module_module",):
                if sq(f"SELECT to_regclass({_q('public.' + table)}) IS NOT NULL", db=name) == "t":
                    counts[table] = int(sq(f'SELECT count(*) FROM public."{table}"', db=name))
            result.setdefault("tables", {})[name] = counts
            modules = None
            if "ir_module_module" in counts:
                modules = int(sq("SELECT count(*) FROM ir_module_module WHERE state = 'installed'", db=name))
            check(f"database:{name}", modules is None or modules > 0,
                  f"readable; {modules if modules is not None else 'no'} installed modules; rows: "
                  + ", ".join(f"{t} {n}" for t, n in counts.items() if t != "ir_module_module"))
    except PitrDrillError as exc:
        result["error"] = str(exc)
        if not any(not c["ok"] for c in checks):
            check("drill", False, str(exc))
    finally:
        if not keep:
            cleanup(r, base, data_dir)
    result["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
    result["passed"] = bool(checks) and all(c["ok"] for c in checks)
    return result


def ledger_check(r: Runner, check, source_socket: str, source_port: int, sq, target_time: str) -> None:
    """Markers of earlier drills: before the target (1 s margin) present, after it absent."""
    has = r.psql(f"SELECT to_regclass({_q(MARKER_TABLE)}) IS NOT NULL", socket=source_socket, port=source_port,
                 db=MARKER_DB)
    if has != "t":
        check("markers", True, f"no markers of earlier drills to compare ({MARKER_TABLE} absent)")
        return
    tgt = _q(target_time)
    q = ("SELECT drill_id || '/' || phase FROM " + MARKER_TABLE + " WHERE at {op} {t}::timestamptz {sign} "
         "interval '1 second' ORDER BY 1")
    want = set(r.psql(q.format(op="<", t=tgt, sign="-"), socket=source_socket, port=source_port,
                      db=MARKER_DB).split())
    later = set(r.psql(q.format(op=">", t=tgt, sign="+"), socket=source_socket, port=source_port,
                       db=MARKER_DB).split())
    exists = sq(f"SELECT to_regclass({_q(MARKER_TABLE)}) IS NOT NULL", db=MARKER_DB) == "t"
    got = set(sq(f"SELECT drill_id || '/' || phase FROM {MARKER_TABLE}", db=MARKER_DB).split()) if exists else set()
    check("markers", want <= got and not (later & got),
          f"{len(want & got)}/{len(want)} earlier markers present, {len(later & got)} later markers present")


def _shell_word(word: str) -> str:
    """pg_ctl -o passes its string through a shell: quote each word."""
    return "'" + word.replace("'", "'\"'\"'") + "'"


def cleanup(r: Runner, base: str, data_dir: str) -> None:
    if os.path.exists(os.path.join(data_dir, "postmaster.pid")):
        r.run([os.path.join(r.pg_bin, "pg_ctl"), "-D", data_dir, "-w", "-t", "60", "stop", "-m", "immediate"],
              timeout=90, check=False)
    shutil.rmtree(base, ignore_errors=True)


def repository_info(conf_path: str, stanza: str, runner: Runner | None = None) -> dict:
    """pgbackrest info of the stanza (check mode: is there something to restore?)."""
    import json

    r = runner or Runner()
    out = r.run(["pgbackrest", f"--config={conf_path}", f"--stanza={stanza}", "--output=json", "info"],
                timeout=120, what="pgbackrest info")
    try:
        info = json.loads(out)[0]
    except (ValueError, IndexError) as exc:
        raise PitrDrillError(f"pgbackrest info returned no stanza {stanza!r}") from exc
    backups = info.get("backup") or []
    if not backups:
        raise PitrDrillError(f"the repository of stanza {stanza!r} holds no backup to restore from")
    return {"status": (info.get("status") or {}).get("message"), "backups": len(backups),
            "latest": backups[-1].get("label"), "latest_stop": (backups[-1].get("timestamp") or {}).get("stop")}


__all__ = ["PitrDrillError", "PgBackRestConfigError", "Runner", "check_settings", "pitr_drill", "parse_ts",
           "repository_info", "scratch_restore_args", "scratch_server_options"]
