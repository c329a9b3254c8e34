# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Patroni's REST API for playbooks/failover.yml in Patroni mode (postgres_ha=patroni).

Plain Python (urllib, through ansible.module_utils.urls.Request): reading the cluster as its members report it,
choosing a switchover candidate, asking Patroni for a switchover or a failover, and waiting until a leader answers
as a writable primary. Automatic failover is Patroni's job; this only asks, waits and reports. The API password
travels in an Authorization header, never on a command line, and is never returned. The REST API is TLS only: every
request verifies the member's certificate against the platform CA (hostname included) and presents a client
certificate (Patroni refuses unsafe methods without one).
"""
from __future__ import annotations

import base64
import contextlib
import json
import ssl
import time
import urllib.error

from ansible.module_utils.urls import Request

LEADER_ROLES = ("leader", "master", "primary", "standby_leader")
RUNNING_STATES = ("running", "streaming")
ACTION_TIMEOUT = 60  # seconds for POST /switchover and /failover (Patroni replies when the action is done)


class PatroniError(Exception):
    """A Patroni operation could not be done; the message says what to do about it."""


def node_key(name: str) -> str:
    """Patroni member name of an inventory host (as the role names members: lower case, [a-z0-9_])."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name.lower())


# the argument spec of a module that talks TLS to Patroni or etcd: the platform CA, and its client certificate
CLIENT_TLS_SPEC = dict(
    ca_file=dict(type="path", required=True),
    cert_file=dict(type="path", required=True),
    key_file=dict(type="path", required=True),
)


def tls_context(ca_file: str, cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """Verifies the member against ca_file (certificate and hostname); presents cert_file/key_file if given."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    return ctx


class Api:
    """One member's REST API (https only)."""

    def __init__(self, url: str, user: str = "", password: str = "", timeout: float = 5,
                 context: ssl.SSLContext | None = None):
        if not url.startswith("https://") or context is None:
            raise PatroniError(f"{url}: Patroni's REST API is reached over https only, verified against the "
                               "platform CA (give ca_file)")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._context = context
        self._auth = ("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()) if user else None

    def request(self, path: str, method: str = "GET", body: dict | None = None,
                timeout: float | None = None) -> tuple[int, object]:
        """(status, parsed JSON or text); status 0 when the member does not answer (in time)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._auth and method != "GET":
            headers["Authorization"] = self._auth
        # ansible's Request with this TLS context is a plain urllib request (no netrc, no extra header)
        request = Request(context=self._context, use_netrc=False)
        try:
            with request.open(method, self.url + path, data=data, headers=headers,
                              timeout=timeout or self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError, ValueError):
            return 0, None
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.strip()


def leader_of(cluster: dict) -> dict | None:
    """The member holding the leader lock, or None."""
    for member in cluster.get("members", []) if isinstance(cluster, dict) else []:
        if member.get("role") in LEADER_ROLES:
            return member
    return None


def replicas_of(cluster: dict) -> list[dict]:
    return [m for m in (cluster.get("members", []) if isinstance(cluster, dict) else [])
            if m.get("role") not in LEADER_ROLES]


def lag_bytes(member: dict) -> int | None:
    lag = member.get("lag")
    return lag if isinstance(lag, int) else None


def choose_candidate(cluster: dict, wanted: str = "", allowed: list[str] | None = None,
                     max_lag: int | None = None) -> str:
    """Member to switch over to: the wanted one, else the running replica with the least lag (among allowed).

    Raises PatroniError when it is not a running replica within max_lag bytes.
    """
    leader = leader_of(cluster)
    if leader is None:
        raise PatroniError("no member holds the leader lock: nothing to switch over from (use mode=failover)")
    pool = [m for m in replicas_of(cluster) if not allowed or m.get("name") in allowed]
    sync = [m for m in pool if m.get("role") == "sync_standby"]
    if sync:
        # synchronous_mode: Patroni hands over only to a synchronous standby (the others may miss commits)
        if wanted and wanted not in [m["name"] for m in sync]:
            raise PatroniError(f"{wanted} is not a synchronous standby; in synchronous mode only "
                               f"{', '.join(m['name'] for m in sync)} can take over from {leader['name']}")
        pool = sync
    if wanted:
        pool = [m for m in pool if m.get("name") == wanted]
        if not pool:
            raise PatroniError(f"{wanted} is not a replica of {leader['name']} "
                               f"(members: {', '.join(m.get('name', '?') for m in cluster.get('members', []))})")
    healthy = [m for m in pool if m.get("state") in RUNNING_STATES and lag_bytes(m) is not None
               and not (m.get("tags") or {}).get("nofailover")]
    if max_lag is not None:
        too_far = [m for m in healthy if lag_bytes(m) > max_lag]
        healthy = [m for m in healthy if lag_bytes(m) <= max_lag]
        if not healthy and too_far:
            raise PatroniError(", ".join(f"{m['name']} lags {lag_bytes(m)} bytes" for m in too_far)
                               + f", more than failover_max_lag_bytes={max_lag}")
    if not healthy:
        raise PatroniError("no running replica to switch over to among "
                           + (", ".join(m.get("name", "?") for m in pool) or "(none)"))
    return min(healthy, key=lambda m: (lag_bytes(m), m["name"]))["name"]


class Cluster:
    """The members' APIs (name -> Api); reads go to whichever member answers."""

    def __init__(self, apis: dict[str, Api]):
        self.apis = apis

    def read(self, skip: tuple[str, ...] = ()) -> dict:
        """/cluster from the first member that answers (skipping some)."""
        for name, api in self.apis.items():
            if name in skip:
                continue
            status, body = api.request("/cluster")
            if status == 200 and isinstance(body, dict):
                return body
        raise PatroniError("no Patroni member answers on its REST API ("
                           + ", ".join(a.url for a in self.apis.values()) + ")")

    def is_writable_primary(self, name: str) -> bool:
        api = self.apis.get(name)
        return api is not None and api.request("/primary")[0] == 200

    def wait_leader(self, timeout: float, not_name: str = "", interval: float = 0.5,
                    clock=time.monotonic, sleep=time.sleep) -> str:
        """Wait until a member other than not_name holds the lock and answers as a running primary."""
        deadline = clock() + timeout
        last = "no answer"
        while True:
            try:
                cluster = self.read()
                leader = leader_of(cluster)
                if leader and leader["name"] != not_name and leader.get("state") in RUNNING_STATES \
                        and self.is_writable_primary(leader["name"]):
                    return leader["name"]
                last = (f"leader {leader['name']} ({leader.get('state')})" if leader else "no leader")
            except PatroniError as exc:
                last = str(exc)
            if clock() >= deadline:
                raise PatroniError(f"no writable leader after {timeout:.0f} s (last seen: {last})")
            sleep(interval)

    def wait_members(self, timeout: float, leader: str, interval: float = 0.5,
                     clock=time.monotonic, sleep=time.sleep) -> dict:
        """Wait until every member runs, as a replica of leader (those following it report no lag problem)."""
        deadline = clock() + timeout
        while True:
            try:
                cluster = self.read()
                members = cluster.get("members", [])
                current = leader_of(cluster)
                if current and current["name"] == leader and len(members) >= len(self.apis) and all(
                        m.get("state") in RUNNING_STATES and (m is current or lag_bytes(m) is not None)
                        for m in members):
                    return cluster
                last = ", ".join(f"{m.get('name')}:{m.get('role')}:{m.get('state')}" for m in members)
            except PatroniError as exc:
                last = str(exc)
            if clock() >= deadline:
                raise PatroniError(f"members not all running under {leader} after {timeout:.0f} s ({last})")
            sleep(interval)

    def switchover(self, leader: str, candidate: str) -> str:
        # Patroni answers a switchover or failover only once it is done (or after polling ~15 s): a slow host
        # must not turn an accepted request into "no answer"
        status, body = self.apis[leader].request("/switchover", "POST", {"leader": leader, "candidate": candidate},
                                                 timeout=ACTION_TIMEOUT)
        if status != 200:
            raise PatroniError(f"Patroni refused the switchover from {leader} to {candidate}: HTTP {status} {body}")
        return str(body)

    def failover(self, candidate: str, via: str) -> str:
        status, body = self.apis[via].request("/failover", "POST", {"candidate": candidate}, timeout=ACTION_TIMEOUT)
        if status != 200:
            raise PatroniError(f"Patroni refused the failover to {candidate}: HTTP {status} {body}")
        return str(body)


def run(cluster: Cluster, state: str, candidate: str = "", candidates: list[str] | None = None,
        max_lag: int | None = None, wait_timeout: float = 120, force: bool = False,
        check_mode: bool = False) -> dict:
    """What failover.yml asks in Patroni mode. Returns a result dict (changed, leader, previous_leader, ...)."""
    started = time.monotonic()
    view = None
    try:
        view = cluster.read()
    except PatroniError:
        if state != "failover":
            raise
    before = leader_of(view) if view else None
    result = {"changed": False, "previous_leader": before["name"] if before else "", "members": []}

    if state == "info":
        result["leader"] = result["previous_leader"]
    elif state == "rejoin":
        if before is None:
            raise PatroniError("no member holds the leader lock: nothing to rejoin")
        result["leader"] = before["name"]
        if not check_mode:
            cluster.wait_members(wait_timeout, before["name"])
    elif state == "switchover":
        new = choose_candidate(view, candidate, candidates, max_lag)
        result["leader"] = new
        if not check_mode:
            result["message"] = cluster.switchover(before["name"], new)
            result["leader"] = cluster.wait_leader(wait_timeout, not_name=before["name"])
            result["changed"] = True
            # the old leader comes back as a replica (Patroni rewinds or restarts it)
            cluster.wait_members(wait_timeout, result["leader"])
    elif state == "failover":
        alive = before is not None and before.get("state") in RUNNING_STATES \
            and cluster.is_writable_primary(before["name"])
        if candidate:
            # a failover asked for by name: Patroni promotes that member
            if alive and not force:
                raise PatroniError(f"{before['name']} is Patroni's leader and accepts writes; use mode=switchover "
                                   "(zero loss), or set failover_force=true if it must be abandoned")
            if not check_mode:
                via = next((n for n in cluster.apis if n != (before or {}).get("name")), candidate)
                result["message"] = cluster.failover(candidate, via)
                result["changed"] = True
        if check_mode:
            result["leader"] = candidate or (before["name"] if alive else "")
        else:
            # Patroni's automatic failover (or the one just asked for): wait for a writable leader other than
            # a dead one; when it already happened, this reports the leader Patroni promoted
            dead = before["name"] if before and not alive else ""
            result["leader"] = cluster.wait_leader(wait_timeout, not_name=dead)
            if candidate and result["leader"] != candidate:
                raise PatroniError(f"Patroni promoted {result['leader']}, not {candidate}")
            result["changed"] = result["changed"] or result["leader"] != result["previous_leader"]
    else:
        raise PatroniError(f"unknown state {state}")
    with contextlib.suppress(PatroniError):
        result["members"] = [{k: m.get(k) for k in ("name", "role", "state", "timeline", "lag")}
                             for m in cluster.read().get("members", [])]
    result["seconds"] = round(time.monotonic() - started, 2)
    return result
