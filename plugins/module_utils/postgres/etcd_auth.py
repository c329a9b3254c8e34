# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""etcd's authentication (RBAC) for Patroni mode, through etcd's JSON gateway (/v3), over TLS.

Plain Python (urllib through ansible.module_utils.urls.Request, and ssl; the db hosts have no etcdctl): every
request presents a client certificate and verifies etcd's certificate against the platform CA (hostname included).
``ensure_auth`` makes the state idempotently: a ``root`` user (the vault's password), a role limited to one key
prefix (READWRITE on [prefix, prefix_end)), a user holding only that role, then authentication enabled. Passwords
travel in request bodies over TLS only, are never returned and never appear in an error message.
"""
from __future__ import annotations

import base64
import json
import urllib.error

from ansible.module_utils.urls import Request

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.patroni import tls_context

AUTH_DISABLED = "authentication is not enabled"
NOT_FOUND = ("not found",)


class EtcdError(Exception):
    """etcd refused or did not answer; the message says what to do (never holds a password)."""


def prefix_range_end(prefix: str) -> bytes:
    """The end of the key range of every key that starts with ``prefix`` (etcd's prefix convention)."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        raise EtcdError(f"bad key prefix {prefix!r}")
    raw[-1] += 1
    return bytes(raw)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


class Client:
    """One etcd member's gateway: POST /v3/<path> with JSON bodies."""

    def __init__(self, endpoint: str, ca_file: str, cert_file: str, key_file: str, timeout: float = 10):
        if not endpoint.startswith("https://"):
            raise EtcdError(f"etcd endpoint {endpoint} is not https: the platform talks to etcd over TLS only")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self._ctx = tls_context(ca_file, cert_file, key_file)

    def call(self, path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        # ansible's Request with this TLS context is a plain urllib request (no netrc, no extra header)
        request = Request(context=self._ctx, use_netrc=False)
        try:
            with request.open("POST", f"{self.endpoint}/v3/{path}", data=json.dumps(body).encode(), headers=headers,
                              timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EtcdError(f"etcd at {self.endpoint} does not answer over TLS: {reason}") from None
        try:
            parsed = json.loads(raw.decode(errors="replace") or "{}")
        except ValueError:
            parsed = {"error": raw.decode(errors="replace")[:200]}
        return status, parsed if isinstance(parsed, dict) else {}


def error_of(body: dict) -> str:
    return str(body.get("error") or body.get("message") or "")


def ok(status: int, body: dict) -> bool:
    return status == 200 and not error_of(body)


def authenticate(client: Client, name: str, password: str) -> tuple[str | None, str]:
    """(token, "") or (None, etcd's reason)."""
    status, body = client.call("auth/authenticate", {"name": name, "password": password})
    if ok(status, body) and body.get("token"):
        return body["token"], ""
    return None, error_of(body) or f"HTTP {status}"


def perm_of(perm: dict) -> tuple[str, bytes, bytes]:
    kind = perm.get("permType", "READ")
    kind = {0: "READ", 1: "WRITE", 2: "READWRITE"}.get(kind, kind) if isinstance(kind, int) else str(kind)
    return kind, unb64(perm.get("key")), unb64(perm.get("range_end"))


def ensure_auth(client: Client, root_password: str, user: str, password: str, prefix: str,
                check_mode: bool = False) -> dict:
    """root + a role and user limited to ``prefix`` + authentication on. Returns {changed, actions, enabled_now}."""
    if not root_password or not password:
        raise EtcdError("the etcd passwords are empty: set odooops_etcd_root_password and "
                        "odooops_etcd_patroni_password in the vault (playbooks/secrets_init.yml)")
    if user == "root":
        raise EtcdError("Patroni's etcd user must not be root")
    token, why = authenticate(client, "root", root_password)
    enabled = token is not None
    if not enabled and AUTH_DISABLED not in why:
        raise EtcdError(f"etcd refused the root user ({why}): odooops_etcd_root_password is not the password etcd "
                        "was set up with; nothing was changed")
    actions: list[str] = []

    def read(path: str, body: dict) -> dict | None:
        status, resp = client.call(path, body, token)
        if ok(status, resp):
            return resp
        if any(n in error_of(resp) for n in NOT_FOUND):
            return None
        raise EtcdError(f"etcd {path}: HTTP {status} {error_of(resp)}")

    def write(path: str, body: dict, what: str) -> None:
        actions.append(what)
        if check_mode:
            return
        status, resp = client.call(path, body, token)
        if not ok(status, resp):
            raise EtcdError(f"etcd {path} ({what}): HTTP {status} {error_of(resp)}")

    if not enabled:
        # first run (or authentication turned off by hand): root gets the vault's password and the root role
        root = read("auth/user/get", {"name": "root"})
        if root is None:
            write("auth/user/add", {"name": "root", "password": root_password}, "add user root")
        else:
            write("auth/user/changepw", {"name": "root", "password": root_password}, "set root's password")
        if "root" not in ((root or {}).get("roles") or []):
            write("auth/user/grant", {"user": "root", "role": "root"}, "grant role root to root")

    want = ("READWRITE", prefix.encode(), prefix_range_end(prefix))
    role = read("auth/role/get", {"role": user})
    if role is None:
        write("auth/role/add", {"name": user}, f"add role {user}")
    perms = [perm_of(p) for p in (role or {}).get("perm") or []]
    for kind, key, end in perms:
        if (kind, key, end) != want:
            write("auth/role/revoke", {"role": user, "key": b64(key), "range_end": b64(end)},
                  f"revoke {kind} on {key.decode(errors='replace')!r} from role {user}")
    if want not in perms:
        write("auth/role/grant", {"name": user, "perm": {"permType": "READWRITE", "key": b64(want[1]),
                                                         "range_end": b64(want[2])}},
              f"grant READWRITE on prefix {prefix!r} to role {user}")

    account = read("auth/user/get", {"name": user})
    if account is None:
        write("auth/user/add", {"name": user, "password": password}, f"add user {user}")
    elif not enabled or authenticate(client, user, password)[0] is None:
        write("auth/user/changepw", {"name": user, "password": password}, f"set {user}'s password")
    roles = (account or {}).get("roles") or []
    for other in roles:
        if other != user:
            write("auth/user/revoke", {"name": user, "role": other}, f"revoke role {other} from {user}")
    if user not in roles:
        write("auth/user/grant", {"user": user, "role": user}, f"grant role {user} to {user}")

    if not enabled:
        write("auth/enable", {}, "enable authentication")
    return {"changed": bool(actions), "actions": actions, "enabled_now": not enabled}
