# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis ACL password rotation: the new password beside the old, clients rolled, then the old removed.

A Redis ACL user may hold several passwords. Passwords are added and removed *by their SHA-256 hash*
(``#<hash>`` / ``!<hash>``), so the plain password never travels to the server nor shows in MONITOR or the
slow log; the plain value is only used to log in. Finalising removes every other hash of the user, so it
does not need the old password.

A tiny RESP2 client over a socket (TCP, TLS or unix socket) keeps this free of the redis-py dependency on
the hosts that run it. Plain Python raising RedisAclError.
"""
from __future__ import annotations

import hashlib
import socket
import ssl


class RedisAclError(Exception):
    """A rotation step that cannot be done; the message says why."""


class RedisReplyError(RedisAclError):
    """Redis answered an error (-ERR ...)."""


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


class RespClient:
    def __init__(self, host: str = "127.0.0.1", port: int = 6379, unix_socket: str | None = None,
                 tls: bool = False, ca_cert: str | None = None, validate_certs: bool = True,
                 timeout: float = 5.0):
        try:
            if unix_socket:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(unix_socket)
            else:
                sock = socket.create_connection((host, port), timeout=timeout)
            if tls:
                ctx = ssl.create_default_context(cafile=ca_cert)
                if not validate_certs:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                sock = ctx.wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            where = unix_socket or f"{host}:{port}"
            raise RedisAclError(f"cannot connect to Redis at {where}: {exc}") from exc
        self.sock = sock
        self.buf = sock.makefile("rb")

    def close(self) -> None:
        try:
            self.buf.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        try:
            self.sock.sendall(b"".join(out))
            return self._read()
        except OSError as exc:
            raise RedisAclError(f"Redis connection failed: {exc}") from exc

    def _read(self):
        line = self.buf.readline()
        if not line:
            raise RedisAclError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisReplyError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.buf.read(size + 2)[:-2]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read() for _unused in range(size)]
        raise RedisAclError(f"unexpected Redis reply {line[:20]!r}")

    def auth(self, username: str | None, password: str | None) -> None:
        if password is None:
            return
        try:
            self.command("AUTH", *([username] if username else []), password)
        except RedisReplyError as exc:
            raise RedisAclError(f"Redis login as {username or 'default'!r} refused: {exc}") from exc


def get_user(client: RespClient, user: str) -> dict | None:
    reply = client.command("ACL", "GETUSER", user)
    if reply is None:
        return None
    info = dict(zip(reply[::2], reply[1::2], strict=False))
    return {"flags": list(info.get("flags") or []), "passwords": list(info.get("passwords") or [])}


def _persist(client: RespClient, persist: bool, check_mode: bool) -> str | None:
    if not persist:
        return None
    aclfile = client.command("CONFIG", "GET", "aclfile")
    how = "ACL SAVE" if len(aclfile) > 1 and aclfile[1] else "CONFIG REWRITE"
    if not check_mode:
        try:
            client.command(*how.split())
        except RedisReplyError as exc:
            raise RedisAclError(f"the ACL change is live but could not be persisted with {how}: {exc}") from exc
    return how


def _user(client: RespClient, user: str) -> dict:
    info = get_user(client, user)
    if info is None:
        raise RedisAclError(f"Redis ACL user {user!r} does not exist: create it first (roles/redis does)")
    return info


def add_password(client: RespClient, user: str, new_password: str, persist: bool = True,
                 check_mode: bool = False) -> dict:
    """Phase 1: ``new_password`` works beside the existing ones."""
    info = _user(client, user)
    digest = password_hash(new_password)
    if digest in info["passwords"]:
        return {"changed": False, "user": user, "passwords": len(info["passwords"]), "persisted": None}
    commands = [f"ACL SETUSER {user} #<new hash>"]
    if not check_mode:
        client.command("ACL", "SETUSER", user, "#" + digest)
    return {"changed": True, "user": user, "passwords": len(info["passwords"]) + 1,
            "persisted": _persist(client, persist, check_mode), "commands": commands}


def keep_only(client: RespClient, user: str, new_password: str, persist: bool = True,
              check_mode: bool = False) -> dict:
    """Phase 2: every password of ``user`` but ``new_password`` is removed (by hash)."""
    info = _user(client, user)
    digest = password_hash(new_password)
    if digest not in info["passwords"]:
        raise RedisAclError(f"the new password is not set for Redis user {user!r}: run the prepare step first "
                            "(removing the others would lock the user out)")
    old = [h for h in info["passwords"] if h != digest]
    if not old:
        return {"changed": False, "user": user, "passwords": 1, "removed": 0, "persisted": None}
    if not check_mode:
        client.command("ACL", "SETUSER", user, *["!" + h for h in old])
    return {"changed": True, "user": user, "passwords": 1, "removed": len(old),
            "persisted": _persist(client, persist, check_mode),
            "commands": [f"ACL SETUSER {user} " + " ".join("!<old hash>" for _unused in old)]}


def remove_password(client: RespClient, user: str, password: str, persist: bool = True,
                    check_mode: bool = False) -> dict:
    """Abort: ``password`` (the new one that was added) is removed again; the others stay."""
    info = _user(client, user)
    digest = password_hash(password)
    if digest not in info["passwords"]:
        return {"changed": False, "user": user, "passwords": len(info["passwords"]), "persisted": None}
    if len(info["passwords"]) == 1:
        raise RedisAclError(f"that password is the only one of Redis user {user!r}: removing it "
                            "would lock the user out")
    if not check_mode:
        client.command("ACL", "SETUSER", user, "!" + digest)
    return {"changed": True, "user": user, "passwords": len(info["passwords"]) - 1,
            "persisted": _persist(client, persist, check_mode), "commands": [f"ACL SETUSER {user} !<new hash>"]}
