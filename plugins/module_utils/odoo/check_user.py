# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health-check user of an Odoo database, kept by the collection through Odoo's own ORM.

Odoo keeps its users in ``res_users`` with a partner, companies, groups and a passlib hash: a row written with SQL
misses what Odoo's ``create`` computes. So the user is made the way an Odoo administrator would script it:
``odoo shell -d <db>`` in a one-shot container of the stack's image (same odoo.conf, libpq service file, networks),
reading a script from a 0600 file put into that container (never the command line or its environment: the
password is in the script), which removes the container when it ends.

The script uses only Odoo 16-18's public ORM: ``env['res.users']``, ``env.ref``, ``groups_id`` (6, 0, ids),
``_crypt_context().verify`` and an explicit ``env.cr.commit()`` (``odoo shell`` rolls back at its end).
"""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
import uuid

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import Engine

MARKER = "ODOOOPS-CHECK-USER "
SCRIPT_PATH = "/tmp/odooops-check-user.py"
LOGIN_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
XMLID_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")

# Odoo 16-18: the script runs in `odoo shell` (env = superuser environment); it prints one JSON line
SCRIPT = '''\
import json
ARGS = json.loads(%(args)r)
Users = env["res.users"].with_context(active_test=False, no_reset_password=True)
user = Users.search([("login", "=", ARGS["login"])], limit=1)
result = {"changed": False, "action": "unchanged", "fields": []}
if ARGS["state"] == "absent":
    if user and user.active:
        user.write({"active": False})
        result.update(changed=True, action="archived", fields=["active"])
else:
    groups = env["res.groups"]
    for xmlid in ARGS["groups"]:
        groups |= env.ref(xmlid)
    wanted = groups | groups.trans_implied_ids
    if not user:
        user = Users.create({"name": ARGS["name"], "login": ARGS["login"], "password": ARGS["password"],
                             "groups_id": [(6, 0, wanted.ids)]})
        result.update(changed=True, action="created", fields=["active", "groups_id", "name", "password"])
    else:
        vals = {}
        if not user.active:
            vals["active"] = True
        if user.groups_id != wanted:
            vals["groups_id"] = [(6, 0, wanted.ids)]
        env.cr.execute("SELECT COALESCE(password, '') FROM res_users WHERE id = %%s", [user.id])
        stored = env.cr.fetchone()[0]
        if not stored or not user._crypt_context().verify(ARGS["password"], stored):
            vals["password"] = ARGS["password"]
        if vals:
            user.write(vals)
            result.update(changed=True, action="updated", fields=sorted(vals))
    result["groups"] = sorted(user.groups_id.ids)
    result["id"] = user.id
if ARGS["commit"]:
    env.cr.commit()
else:
    env.cr.rollback()
print(%(marker)r + json.dumps(result), flush=True)
'''


class CheckUserError(Exception):
    """The check user could not be kept; the message says why (no secret in it)."""


def validate(login: str, password: str, groups: list[str], state: str) -> None:
    if not LOGIN_RE.match(login or ""):
        raise CheckUserError(f"login {login!r} is not a plain login (letters, digits and ._@+- only, 1-64 chars)")
    if state == "present" and len(password or "") < 12:
        raise CheckUserError("the check user's password must have at least 12 characters (a generated secret)")
    bad = [g for g in groups if not XMLID_RE.match(g)]
    if bad:
        raise CheckUserError(f"groups must be XML ids like base.group_portal, got {bad}")
    if state == "present" and not groups:
        raise CheckUserError("give the check user at least one group (least rights: base.group_portal)")


def script(login: str, password: str, name: str, groups: list[str], state: str = "present",
           commit: bool = True) -> str:
    """The Python source ``odoo shell`` runs; every value is data of one JSON literal, never code."""
    args = json.dumps({"login": login, "password": password, "name": name, "groups": list(groups),
                       "state": state, "commit": bool(commit)})
    return SCRIPT % {"args": args, "marker": MARKER}


def tar_file(path: str, data: bytes, uid: int, gid: int, mode: int = 0o600) -> tuple[str, bytes]:
    """(directory, tar) that puts data at path, owned uid:gid with mode, for Engine.put_archive."""
    directory, _sep, base = path.rpartition("/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(base)
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return directory or "/", buf.getvalue()


def owner(user: str | None) -> tuple[int, int]:
    """uid, gid of a container user given as 'uid[:gid]'; Odoo's images run as odoo (101:101) by default."""
    if user and re.match(r"^\d+(:\d+)?$", user):
        uid, _sep, gid = user.partition(":")
        return int(uid), int(gid or uid)
    return 101, 101


def parse(logs: str) -> dict | None:
    line = next((ln for ln in reversed(logs.splitlines()) if ln.startswith(MARKER)), None)
    return json.loads(line[len(MARKER):]) if line else None


def command(odoo_command: list[str], entrypoint: list[str] | None, config_path: str,
            database: str) -> tuple[list[str], list[str]]:
    """(entrypoint, cmd) of the one-shot: a shell that feeds the script file to `odoo shell` on its standard
    input (Odoo's shell runs a script read from a non-terminal stdin)."""
    odoo = list(odoo_command or entrypoint or ["odoo"])
    return (["/bin/sh", "-c", f'exec "$@" < {SCRIPT_PATH}'],
            ["odooops-check-user", *odoo, "shell", "-c", config_path, "-d", database, "--no-http", "--log-level=warn"])


def ensure(engine: Engine, like_container: str, database: str, login: str, password: str, name: str,
           groups: list[str], state: str = "present", commit: bool = True, image: str | None = None,
           config_path: str = "/etc/odoo/odoo.conf", odoo_command: list[str] | None = None,
           timeout: float = 600) -> dict:
    """Create, update or archive the user in a one-shot `odoo shell`; returns the script's result."""
    validate(login, password, groups, state)
    spec = um.ContainerSpec(engine, like_container)
    ref = engine.container(like_container)
    image = image or ref["Config"]["Image"]
    uid, gid = owner(spec.user)
    directory, data = tar_file(SCRIPT_PATH, script(login, password, name, groups, state, commit).encode(), uid, gid)
    entrypoint, cmd = command(odoo_command or [], spec.entrypoint, config_path, database)
    res = engine.run_oneshot(image, cmd, entrypoint=entrypoint,
                             name=f"{like_container}-checkuser-{uuid.uuid4().hex[:6]}",
                             env=spec.env, binds=spec.binds, mounts=spec.mounts, networks=spec.networks,
                             user=spec.user, timeout=timeout, log_tail=400,
                             labels={"org.odooops.purpose": "check-user", "org.odooops.database": database},
                             copy_from=spec.ref_id, copy_paths=spec.copy_paths(config_path),
                             files=[(directory, data)])
    logs = um.redact(res["logs"], [password, *spec.secrets()])
    result = parse(logs)
    if res["timed_out"] or res["exit_code"] != 0 or result is None:
        why = f"killed after {timeout} s" if res["timed_out"] else f"exit {res['exit_code']}"
        raise CheckUserError(f"odoo shell on database {database!r} could not keep the check user {login!r} ({why}): "
                             f"{um.tail(logs, 8)}")
    result["duration"] = res["duration"]
    return result
