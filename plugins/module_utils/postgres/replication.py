# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming replication: node state, safe promotion, fencing and rejoin (pg_rewind or rebuild).

Plain Python over psycopg2 and PostgreSQL's own tools; raises PostgresError with a message a person
can act on. The modules postgres_replication_info, postgres_promote and postgres_rejoin are thin
wrappers around the functions here.

Per-node settings and pg_rewind: pg_rewind copies every file of the source's data directory that is
not WAL or relation data, including postgresql.conf, postgresql.auto.conf, pg_hba.conf and
pg_ident.conf when they live there (the upstream layout; Debian keeps the first, third and fourth in
/etc). ``rejoin`` therefore saves the target's configuration files before pg_rewind or a rebuild
and puts them back afterwards, then writes the standby settings (primary_conninfo,
primary_slot_name, standby.signal) itself. Passwords never go into primary_conninfo: libpq reads
them from a passfile (0600).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PostgresError,
    as_user_cmd,
    connect,
    execute,
    int_to_lsn,
    lsn_to_int,
    query,
    scalar,
    subprocess_runner,
)

FENCE_MARKER = "odooops.fenced"
CONFIG_FILES = ("postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "pg_ident.conf")
STANDBY_KEYS = ("primary_conninfo", "primary_slot_name")
SLOT_RE = re.compile(r"^[a-z0-9_]{1,63}$")


class LagTooHigh(PostgresError):
    """The chosen standby is further behind than the threshold allows."""


# == node state ===================================================================================
def node_info(conn) -> dict:
    """Role, timeline, LSNs, standbys with lag, slots and WAL receiver of one node."""
    base = query(conn, """
        select pg_is_in_recovery() as in_recovery,
               current_setting('server_version_num')::int as server_version_num,
               current_setting('cluster_name') as cluster_name,
               current_setting('synchronous_standby_names') as synchronous_standby_names,
               current_setting('synchronous_commit') as synchronous_commit""")[0]
    info: dict = {**base, "reachable": True}
    if not base["in_recovery"]:
        row = query(conn, """
            select pg_current_wal_lsn()::text as current_lsn,
                   pg_current_wal_flush_lsn()::text as flush_lsn,
                   ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int as timeline""")[0]
        info.update(role="primary", timeline=row["timeline"], current_lsn=row["current_lsn"],
                    flush_lsn=row["flush_lsn"], receive_lsn=None, replay_lsn=None, replay_paused=False,
                    replay_delay_seconds=None)
        info["position"] = lsn_to_int(row["flush_lsn"])
        info["standbys"] = query(conn, """
            select application_name, client_addr::text as client_addr, state, sync_state, sync_priority,
                   sent_lsn::text as sent_lsn, write_lsn::text as write_lsn, flush_lsn::text as flush_lsn,
                   replay_lsn::text as replay_lsn,
                   coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint as lag_bytes,
                   coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn), 0)::bigint as flush_lag_bytes,
                   extract(epoch from write_lag)::float as write_lag_seconds,
                   extract(epoch from flush_lag)::float as flush_lag_seconds,
                   extract(epoch from replay_lag)::float as replay_lag_seconds
              from pg_stat_replication order by application_name""")
        info["wal_receiver"] = None
    else:
        row = query(conn, """
            select pg_last_wal_receive_lsn()::text as receive_lsn,
                   pg_last_wal_replay_lsn()::text as replay_lsn,
                   pg_get_wal_replay_pause_state() <> 'not paused' as replay_paused,
                   extract(epoch from now() - pg_last_xact_replay_timestamp())::float as replay_delay_seconds,
                   (select timeline_id from pg_control_checkpoint()) as checkpoint_timeline""")[0]
        receiver = query(conn, """
            select status, received_tli, flushed_lsn::text as flushed_lsn,
                   latest_end_lsn::text as latest_end_lsn, sender_host, sender_port, slot_name,
                   extract(epoch from now() - last_msg_receipt_time)::float as last_message_age_seconds
              from pg_stat_wal_receiver""")
        info.update(role="standby", current_lsn=None, flush_lsn=None, receive_lsn=row["receive_lsn"],
                    replay_lsn=row["replay_lsn"], replay_paused=row["replay_paused"],
                    replay_delay_seconds=row["replay_delay_seconds"], standbys=[],
                    wal_receiver=receiver[0] if receiver else None)
        tli = receiver[0]["received_tli"] if receiver and receiver[0]["received_tli"] else None
        info["timeline"] = tli or row["checkpoint_timeline"]
        info["position"] = max(lsn_to_int(row["receive_lsn"]) or 0, lsn_to_int(row["replay_lsn"]) or 0)
    info["slots"] = query(conn, """
        select slot_name, slot_type, active, restart_lsn::text as restart_lsn, wal_status,
               safe_wal_size from pg_replication_slots order by slot_name""")
    return info


def gather(nodes: list[dict], connect_kw) -> dict:
    """name -> node_info, or {"reachable": False, "error": msg}; connect_kw(node) -> psycopg2 kwargs."""
    infos = {}
    for node in nodes:
        try:
            conn = connect(connect_kw(node))
        except PostgresError as exc:
            infos[node["name"]] = {"reachable": False, "error": str(exc)}
            continue
        try:
            infos[node["name"]] = node_info(conn)
        finally:
            conn.close()
    return infos


# == promotion: pure planning =======================================================================
def check_candidates(nodes: list[dict], candidates: list[str] | None) -> list[str]:
    """Candidates must be known nodes; default: every node. Raises before anything is touched."""
    names = [n["name"] for n in nodes]
    if len(set(names)) != len(names):
        raise PostgresError(f"node names must be unique, got {', '.join(names)}")
    if not candidates:
        return names
    unknown = [c for c in candidates if c not in names]
    if unknown:
        raise PostgresError(f"unknown candidate(s) {', '.join(unknown)}: not among the nodes "
                            f"{', '.join(names)}; nothing was changed")
    return list(candidates)


def plan_promotion(infos: dict, candidates: list[str], target: str | None = None, min_lsn: str | None = None,
                   max_lag_bytes: int | None = None, force: bool = False) -> dict:
    """Choose the standby to promote and check it may be promoted. Pure: no connection.

    reference position = the furthest of: a reachable primary's flushed WAL, min_lsn (the old
    primary's shutdown checkpoint in a switchover), the most advanced reachable standby. The lag of
    the chosen standby is reference - its replayed LSN.
    """
    primaries = [n for n, i in infos.items() if i.get("reachable") and i["role"] == "primary"]
    if target and target not in candidates:
        raise PostgresError(f"target {target} is not among the candidates {', '.join(candidates)}")
    if target and target in primaries and len(primaries) == 1:
        return {"action": "none", "chosen": target, "reason": f"{target} is already the primary"}
    if not target and len(primaries) == 1 and primaries[0] in candidates:
        # the desired state "one of the candidates is the primary" already holds
        return {"action": "none", "chosen": primaries[0], "reason": f"{primaries[0]} is already the primary"}
    reachable = [c for c in candidates if infos.get(c, {}).get("reachable") and infos[c]["role"] == "standby"]
    if not reachable:
        detail = "; ".join(f"{c}: {infos.get(c, {}).get('error', 'not a standby')}" for c in candidates)
        raise PostgresError(f"no reachable standby among the candidates ({detail}); nothing was changed")
    if target:
        if target not in reachable:
            raise PostgresError(f"target {target} is not a reachable standby: "
                                f"{infos.get(target, {}).get('error', 'it is a primary')}; nothing was changed")
        chosen = target
    else:
        chosen = max(reachable, key=lambda c: (infos[c]["timeline"] or 0, infos[c]["position"] or 0, c))
    refs = [infos[c]["position"] or 0 for c in reachable]
    refs += [infos[p]["position"] or 0 for p in primaries]
    if min_lsn:
        refs.append(lsn_to_int(min_lsn))
    reference = max(refs)
    replayed = lsn_to_int(infos[chosen]["replay_lsn"]) or 0
    lag = max(0, reference - replayed)
    plan = {"action": "promote", "chosen": chosen, "lag_bytes": lag, "reference_position": reference,
            "running_primaries": primaries}
    if max_lag_bytes is not None and lag > max_lag_bytes and not force:
        raise LagTooHigh(f"{chosen} lags {lag} bytes behind (replayed {infos[chosen]['replay_lsn']}), more than "
                         f"max_lag_bytes={max_lag_bytes}; wait for it to catch up, choose another candidate or set "
                         f"force (acknowledged commits may be lost); nothing was changed")
    if primaries and not force:
        raise PostgresError(f"{', '.join(primaries)} still accept(s) writes: promoting {chosen} now would split "
                            f"the cluster; stop or fence the primary first (switchover/failover playbook) or "
                            f"set force; nothing was changed")
    return plan


# == promotion: actions ==============================================================================
def wait_replayed(conn, lsn: str, timeout: float) -> bool:
    """Wait until the standby has replayed up to lsn (resuming a paused replay is not our call)."""
    deadline = time.monotonic() + timeout
    while True:
        done = scalar(conn, "select pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", (lsn,))
        if done or time.monotonic() >= deadline:
            return bool(done)
        time.sleep(0.05)


def promote(conn, wait_seconds: float = 60, synchronous_fallback: str = "relax") -> dict:
    """pg_promote, then wait until the node assigns a transaction id (= accepts writes)."""
    t0 = time.monotonic()
    if not scalar(conn, "select pg_promote(true, %s)", (max(1, int(wait_seconds)),)):
        raise PostgresError(f"pg_promote did not finish within {wait_seconds} s; the node may still promote: "
                            f"check its log before retrying")
    deadline = t0 + wait_seconds
    while True:
        try:
            # an xid is assigned only when the node accepts writes; rolled back, so it never waits for a
            # synchronous standby that is not there yet
            conn.autocommit = False
            try:
                scalar(conn, "select txid_current()")
            finally:
                conn.rollback()
                conn.autocommit = True
            break
        except Exception as exc:  # noqa: BLE001 - read-only until recovery has really ended
            if time.monotonic() >= deadline:
                raise PostgresError(f"promoted but not writable after {wait_seconds} s: {exc}") from exc
            time.sleep(0.02)
    result = {"promote_seconds": round(time.monotonic() - t0, 3), "synchronous_relaxed": False}
    ssn = scalar(conn, "show synchronous_standby_names")
    if ssn and synchronous_fallback == "relax":
        live = scalar(conn, "select count(*) from pg_stat_replication where sync_state in ('sync', 'quorum')")
        if not live:
            # availability after an emergency: no standby can acknowledge yet; rejoin restores it
            execute(conn, "alter system set synchronous_standby_names = ''")
            scalar(conn, "select pg_reload_conf()")
            result["synchronous_relaxed"] = True
    return result


# == local cluster control ============================================================================
class LocalCluster:
    """A cluster on this host: data directory + how to start/stop it (pg_ctl, pg_ctlcluster, systemd)."""

    def __init__(self, data_dir: str, bin_dir: str = "/usr/lib/postgresql/15/bin", control: str = "pg_ctl",
                 cluster: str = "15/main", log_file: str | None = None, os_user: str = "postgres", runner=None):
        self.data_dir = data_dir
        self.bin_dir = bin_dir
        self.control = control
        self.cluster = cluster
        self.log_file = log_file or os.path.join(os.path.dirname(data_dir.rstrip("/")), "postgres.log")
        self.os_user = os_user
        self.runner = runner or subprocess_runner

    def _run(self, cmd: list[str], env: dict | None = None, what: str = "", timeout: float = 600,
             as_postgres: bool = True, with_stderr: bool = False) -> str:
        rc, out, err = self.runner(as_user_cmd(cmd, self.os_user) if as_postgres else cmd, env=env,
                                   timeout=timeout)
        if rc != 0:
            raise PostgresError(f"{what or cmd[0]} failed (rc={rc}): {(err or out).strip()[-800:]}")
        return out + (err or "") if with_stderr else out

    def bin(self, tool: str) -> str:
        return os.path.join(self.bin_dir, tool)

    def running(self) -> bool:
        """The postmaster of postmaster.pid is alive (a zombie left by a SIGKILL does not count)."""
        try:
            with open(self.path("postmaster.pid"), encoding="utf-8") as fh:
                pid = int(fh.readline().strip())
        except (OSError, ValueError):
            return False
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            rc, _out, _err = self.runner(as_user_cmd([self.bin("pg_ctl"), "-D", self.data_dir, "status"],
                                                     self.os_user))
            return rc == 0

    def clear_stale_locks(self) -> bool:
        """Remove postmaster.pid and the socket lock when their postmaster is dead (or a zombie nobody
        reaped, as under a container's PID 1 that is not an init): PostgreSQL would take them for live."""
        if self.running():
            return False
        try:
            with open(self.path("postmaster.pid"), encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return False
        pid, port = lines[0].strip(), lines[3].strip() if len(lines) > 3 else ""
        sockdirs = lines[4].split(",") if len(lines) > 4 else []
        for sockdir in sockdirs:
            lock = os.path.join(sockdir.strip(), f".s.PGSQL.{port}.lock")
            try:
                with open(lock, encoding="utf-8") as fh:
                    if fh.readline().strip() == pid:
                        os.unlink(lock)
            except OSError:
                pass
        os.unlink(self.path("postmaster.pid"))
        return True

    def start(self, timeout: int = 120) -> None:
        self.clear_stale_locks()
        if self.control == "pg_ctlcluster":
            ver, name = self.cluster.split("/")
            self._run(["pg_ctlcluster", ver, name, "start"], what="pg_ctlcluster start", as_postgres=False)
        elif self.control == "systemd":
            self._run(["systemctl", "start", f"postgresql@{self.cluster.replace('/', '-')}"],
                      what="systemctl start", as_postgres=False)
        else:
            self._run([self.bin("pg_ctl"), "-D", self.data_dir, "-l", self.log_file, "-w", "-t", str(timeout),
                       "start"], what="pg_ctl start")

    def stop(self, mode: str = "fast") -> None:
        if not self.running():
            return
        if self.control == "pg_ctlcluster":
            ver, name = self.cluster.split("/")
            self._run(["pg_ctlcluster", ver, name, "stop", "-m", mode], what="pg_ctlcluster stop", as_postgres=False)
        elif self.control == "systemd":
            self._run(["systemctl", "stop", f"postgresql@{self.cluster.replace('/', '-')}"], what="systemctl stop",
                      as_postgres=False)
        else:
            self._run([self.bin("pg_ctl"), "-D", self.data_dir, "-w", "-t", "120", "stop", "-m", mode],
                      what="pg_ctl stop")

    def controldata(self) -> dict:
        out = self._run([self.bin("pg_controldata"), "-D", self.data_dir], what="pg_controldata")
        return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}

    def path(self, name: str) -> str:
        return os.path.join(self.data_dir, name)

    def fenced(self) -> bool:
        return os.path.exists(self.path(FENCE_MARKER))

    def chown(self, path: str) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, self.os_user, self.os_user)


def conninfo(params: dict) -> str:
    """libpq key=value string (values quoted); never contains a password: use passfile."""
    if "password" in params:
        raise PostgresError("a password must not be written into a conninfo string; use a passfile")
    parts = []
    for key, value in params.items():
        if value is None or value == "":
            continue
        text = str(value).replace("\\", "\\\\").replace("'", "\\'")
        parts.append(f"{key}='{text}'")
    return " ".join(parts)


def write_standby_settings(cluster: LocalCluster, primary_conninfo: str, slot: str | None) -> None:
    """primary_conninfo/primary_slot_name in postgresql.auto.conf (other lines kept) + standby.signal."""
    auto = cluster.path("postgresql.auto.conf")
    lines = []
    if os.path.exists(auto):
        with open(auto, encoding="utf-8") as fh:
            lines = [ln for ln in fh.read().splitlines()
                     if ln.split("=", 1)[0].strip() not in STANDBY_KEYS]
    if not lines or not lines[0].startswith("#"):
        lines.insert(0, "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.")
    lines.append("primary_conninfo = '{}'".format(primary_conninfo.replace("'", "''")))
    if slot:
        lines.append(f"primary_slot_name = '{slot}'")
    with open(auto, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(auto, 0o600)
    cluster.chown(auto)
    write_standby_signal(cluster)


def write_standby_signal(cluster: LocalCluster) -> None:
    signal = cluster.path("standby.signal")
    with open(signal, "w", encoding="utf-8"):
        pass
    cluster.chown(signal)


def fence(cluster: LocalCluster, check_mode: bool = False) -> dict:
    """Make sure this node cannot accept writes: stopped, marked fenced, standby.signal in place.

    Starting it again (by hand, by a reboot, by the role) brings it up read-only in recovery; the role
    refuses to start a fenced node as a primary. Rejoin removes the marker.
    """
    running = cluster.running()
    has_signal = os.path.exists(cluster.path("standby.signal"))
    writable = False
    if running:
        rc, out, _err = cluster.runner(as_user_cmd([cluster.bin("pg_controldata"), "-D", cluster.data_dir],
                                                   cluster.os_user))
        writable = rc == 0 and "in production" in out
    changed = not cluster.fenced() or not has_signal or writable
    if changed and not check_mode:
        # marker and standby.signal first: even if the stop below fails, a restart comes up read-only
        with open(cluster.path(FENCE_MARKER), "w", encoding="utf-8") as fh:
            fh.write(f"fenced at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} by odooops.hosting\n")
        cluster.chown(cluster.path(FENCE_MARKER))
        if not has_signal:
            write_standby_signal(cluster)
        if writable:
            cluster.stop("fast")
        elif not running:
            cluster.clear_stale_locks()  # killed hard: let a restart come up (read-only)
    return {"changed": changed, "stopped": writable, "state": "fenced"}


def finish_crash_recovery(cluster: LocalCluster) -> bool:
    """pg_rewind needs a clean shutdown. After a crash, replay the node's own WAL as a (read-only) standby
    and stop it: the state becomes "shut down in recovery". (pg_rewind's own single-user recovery cannot
    find postgresql.conf when it lives outside the data directory, as on Debian.)"""
    state = cluster.controldata().get("Database cluster state", "")
    if state in ("shut down", "shut down in recovery"):
        return False
    write_standby_signal(cluster)
    cluster.start()
    cluster.stop("fast")
    return True


def _save_config(cluster: LocalCluster) -> dict:
    saved = {}
    for name in CONFIG_FILES:
        path = cluster.path(name)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                saved[name] = fh.read()
    return saved


def _restore_config(cluster: LocalCluster, saved: dict) -> None:
    for name, data in saved.items():
        path = cluster.path(name)
        with open(path, "wb") as fh:
            fh.write(data)
        os.chmod(path, 0o600)
        cluster.chown(path)


def streaming_from(info: dict, host: str, port: int) -> bool:
    rcv = info.get("wal_receiver") or {}
    return (info.get("role") == "standby" and rcv.get("status") == "streaming"
            and str(rcv.get("sender_host")) == str(host) and int(rcv.get("sender_port") or 0) == int(port))


def ensure_slot(primary_conn, slot: str) -> bool:
    if not SLOT_RE.match(slot):
        raise PostgresError(f"slot name {slot!r} must match {SLOT_RE.pattern}")
    if scalar(primary_conn, "select count(*) from pg_replication_slots where slot_name = %s", (slot,)):
        return False
    scalar(primary_conn, "select pg_create_physical_replication_slot(%s)", (slot,))
    return True


WAL_SEGMENT = 16 * 1024 * 1024
FIRST_NORMAL_OID = 16384  # relfilenodes below it are the catalogs' (pg_statistic written by ANALYZE among them)
_DIVERGED = re.compile(r"diverged at WAL location ([0-9A-Fa-f]+/[0-9A-Fa-f]+) on timeline (\d+)")
_WALDUMP = re.compile(r"rmgr: (\w+)\s.*?tx:\s+(\d+), lsn: ([0-9A-Fa-f]+/[0-9A-Fa-f]+),.*?desc: (\w+)(.*)$")
_USER_REL = re.compile(r"rel \d+/\d+/(\d+)")


def parse_divergence(pg_rewind_output: str) -> tuple[str, int] | None:
    """(LSN, timeline) where this node's history left the new primary's, from pg_rewind's output."""
    m = _DIVERGED.search(pg_rewind_output)
    return (m.group(1), int(m.group(2))) if m else None


def count_lost(waldump_output: str, diverged_at: str) -> dict:
    """What this node committed after the divergence point, that the new primary never received: from a
    pg_waldump listing that starts at or before that point. `user_commits` counts the transactions that wrote to
    a user relation (relfilenode >= 16384: an application's writes; ANALYZE's catalog updates are not);
    `commits` counts every COMMIT record. Times are the commit records' own (the old primary's clock)."""
    start = lsn_to_int(diverged_at)
    touched: set[str] = set()
    commits = user = 0
    first = last = None
    for line in waldump_output.splitlines():
        m = _WALDUMP.search(line)
        if not m:
            continue
        rmgr, xid, lsn, desc, rest = m.groups()
        if rmgr in ("Heap", "Heap2", "Btree") and xid != "0":
            rel = _USER_REL.search(rest)
            if rel and int(rel.group(1)) >= FIRST_NORMAL_OID:
                touched.add(xid)
        if rmgr == "Transaction" and desc == "COMMIT" and lsn_to_int(lsn) >= start:
            commits += 1
            if xid in touched:
                user += 1
                when = rest.strip().split(";")[0].strip()
                first = first or when
                last = when
    return {"diverged_at": diverged_at, "commits": commits, "user_commits": user, "first_commit_at": first,
            "last_commit_at": last}


def lost_window(cluster: LocalCluster, source: str, env: dict) -> dict | None:
    """Before a rewind: the transactions this node (an old primary) committed that the new primary does not have
    (asynchronous replication's lost window), counted from this node's own WAL. None when it cannot be told."""
    try:
        out = cluster._run([cluster.bin("pg_rewind"), "--dry-run", "-D", cluster.data_dir,
                            f"--source-server={source}"], env=env, what="pg_rewind --dry-run", with_stderr=True)
    except PostgresError:
        return None
    diverged = parse_divergence(out)
    if diverged is None:
        return {"diverged_at": None, "commits": 0, "user_commits": 0, "first_commit_at": None,
                "last_commit_at": None} if "no rewind required" in out.lower() else None
    lsn, timeline = diverged
    # from the start of the divergence's segment: a transaction whose rows the new primary got, but not its commit,
    # is lost too, and its rows are before the divergence point
    begin = int_to_lsn(lsn_to_int(lsn) // WAL_SEGMENT * WAL_SEGMENT)
    rc, dump, _err = cluster.runner(as_user_cmd([cluster.bin("pg_waldump"), "--path", cluster.path("pg_wal"),
                                                 "--timeline", str(timeline), "--start", begin], cluster.os_user),
                                    timeout=300)
    # pg_waldump ends with an error at the end of the WAL ("invalid record length"): the listing before it counts
    result = count_lost(dump, lsn)
    result["timeline"] = timeline
    return result


def rejoin(cluster: LocalCluster, primary: dict, primary_kw: dict, local_kw: dict | None, slot: str | None,
           application_name: str, passfile: str | None = None, rebuild: str = "auto", check_mode: bool = False,
           wait_seconds: float = 120, restore_synchronous: bool = True) -> dict:
    """Make this node a streaming standby of primary (host, port, user, dbname, sslmode...).

    rebuild: "never" (pg_rewind only), "auto" (pg_basebackup when pg_rewind cannot), "always".
    Idempotent: a node already streaming from primary is left alone (unless rebuild=always).
    """
    result = {"changed": False, "method": None, "fence_cleared": False}
    pconn = connect(primary_kw)
    try:
        if scalar(pconn, "select pg_is_in_recovery()"):
            raise PostgresError(f"{primary['host']}:{primary['port']} is not a primary (it is in recovery); "
                                f"promote a node first; nothing was changed")
        if cluster.running() and local_kw is not None and rebuild != "always":
            try:
                lconn = connect(local_kw)
                try:
                    info = node_info(lconn)
                finally:
                    lconn.close()
                if streaming_from(info, primary["host"], primary["port"]) and not cluster.fenced():
                    result["state"] = "streaming"
                    return result
            except PostgresError:
                pass
        result["changed"] = True
        if check_mode:
            result["method"] = "rebuild" if rebuild == "always" else "rewind"
            return result
        if slot:
            result["slot_created"] = ensure_slot(pconn, slot)
        # PostgreSQL 15's pg_rewind reads the source's timeline from its pg_control, which a just-promoted
        # primary only updates at its next checkpoint: without this it may wrongly find "no rewind required"
        execute(pconn, "checkpoint")
    finally:
        pconn.close()

    env = {"PGPASSFILE": passfile} if passfile else {}
    source = conninfo({k: v for k, v in primary.items() if k != "password"} |
                      ({"passfile": passfile} if passfile else {}))
    standby_conninfo = conninfo({**{k: v for k, v in primary.items() if k not in ("password", "dbname")},
                                 "application_name": application_name, **({"passfile": passfile} if passfile else {})})
    was_fenced = cluster.fenced()
    cluster.stop("fast")
    if os.path.exists(cluster.path("PG_VERSION")) and rebuild != "always":
        finish_crash_recovery(cluster)
    saved = _save_config(cluster)
    method = None
    rewind_error = None
    had_signal = os.path.exists(cluster.path("standby.signal"))
    if rebuild != "always" and os.path.exists(cluster.path("PG_VERSION")):
        try:
            # PG13+: pg_rewind runs crash recovery itself (single-user) when the target was not shut down cleanly
            # single-user crash recovery refuses standby.signal; it is written again below
            if os.path.exists(cluster.path("standby.signal")):
                os.unlink(cluster.path("standby.signal"))
            result["lost"] = lost_window(cluster, source, env)
            out = cluster._run([cluster.bin("pg_rewind"), "-D", cluster.data_dir, f"--source-server={source}"],
                               env=env, what="pg_rewind", with_stderr=True)
            method = "none" if "no rewind required" in out.lower() else "rewind"
        except PostgresError as exc:
            rewind_error = str(exc)
            if rebuild == "never":
                _restore_config(cluster, saved)
                if had_signal:
                    write_standby_signal(cluster)
                raise PostgresError(f"{exc}; rebuild=never, so the data directory was left as it was") from exc
    if method is None:
        method = "rebuild"
        _rebuild(cluster, primary, slot, env, source)
    _restore_config(cluster, saved)
    write_standby_settings(cluster, standby_conninfo, slot)
    if os.path.exists(cluster.path(FENCE_MARKER)):  # (pg_rewind may already have removed it with the source's)
        os.unlink(cluster.path(FENCE_MARKER))
    result["fence_cleared"] = was_fenced
    cluster.start()
    result.update(method=method, rewind_error=rewind_error)
    if local_kw is not None:
        result["state"] = _wait_streaming(local_kw, primary, wait_seconds)
    if restore_synchronous and result.get("state") == "streaming":
        pconn = connect(primary_kw)
        try:
            auto_ssn = scalar(pconn, "select count(*) from pg_settings where name = "
                                     "'synchronous_standby_names' and sourcefile like '%%postgresql.auto.conf'")
            if auto_ssn:
                execute(pconn, "alter system reset synchronous_standby_names")
                scalar(pconn, "select pg_reload_conf()")
                result["synchronous_restored"] = True
        finally:
            pconn.close()
    return result


def _rebuild(cluster: LocalCluster, primary: dict, slot: str | None, env: dict, source: str) -> None:
    """Fresh copy with pg_basebackup into a new directory, swapped in only when complete."""
    parent = os.path.dirname(cluster.data_dir.rstrip("/"))
    if not os.access(parent, os.W_OK):
        # e.g. /var/lib/postgresql/15 owned by root while we run as postgres: copy in place (this node is a
        # standby being rebuilt; everything it held is on the primary)
        for entry in os.listdir(cluster.data_dir):
            path = os.path.join(cluster.data_dir, entry)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        cluster._run(_basebackup_args(cluster, cluster.data_dir, source, slot), env=env, what="pg_basebackup")
        return
    tmp = tempfile.mkdtemp(prefix=".rebuild-", dir=parent)
    cluster.chown(tmp)
    os.chmod(tmp, 0o700)
    try:
        cluster._run(_basebackup_args(cluster, tmp, source, slot), env=env, what="pg_basebackup")
    except PostgresError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = cluster.data_dir.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(cluster.data_dir, old)
    os.rename(tmp, cluster.data_dir)
    shutil.rmtree(old, ignore_errors=True)


def _basebackup_args(cluster: LocalCluster, target: str, source: str, slot: str | None) -> list[str]:
    args = [cluster.bin("pg_basebackup"), "-D", target, "-d", source, "-X", "stream", "-c", "fast"]
    return args + (["-S", slot] if slot else [])


def _wait_streaming(local_kw: dict, primary: dict, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    last = "not started"
    while time.monotonic() < deadline:
        try:
            conn = connect(local_kw)
            try:
                info = node_info(conn)
            finally:
                conn.close()
            if streaming_from(info, primary["host"], primary["port"]):
                return "streaming"
            last = (info.get("wal_receiver") or {}).get("status") or f"role {info['role']}, no WAL receiver"
        except PostgresError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise PostgresError(f"rejoined node did not stream from {primary['host']}:{primary['port']} within "
                        f"{timeout} s (last: {last}); see its log")
