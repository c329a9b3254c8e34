"""A real redis-server on loopback with ACL users (the default user disabled)."""
from __future__ import annotations

import os
import shutil
import tempfile

from .procs import ManagedProcess, free_port, port_open, wait_for

ROOT = os.environ.get("ODOOOPS_REDIS_ROOT", "/var/tmp/odooops-redis")


class RedisServer:
    def __init__(self, users: dict[str, tuple[str, str]] | None = None, port: int | None = None):
        """users: name -> (password, rules), e.g. {"admin": ("pw", "~* &* +@all")}."""
        os.makedirs(ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=ROOT)
        self.port = port or free_port()
        self.users = users or {"admin": ("admin-" + os.urandom(6).hex(), "~* &* +@all")}
        self.acl_file = os.path.join(self.dir, "users.acl")
        self.proc: ManagedProcess | None = None

    def start(self) -> RedisServer:
        with open(self.acl_file, "w", encoding="utf-8") as fh:
            fh.write("user default off\n")
            for name, (password, rules) in self.users.items():
                fh.write(f"user {name} on >{password} {rules}\n")
        os.chmod(self.acl_file, 0o600)
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(f"bind 127.0.0.1\nport {self.port}\ndir {self.dir}\ndaemonize no\nsave \"\"\n"
                     f"appendonly no\naclfile {self.acl_file}\nrepl-diskless-sync-delay 0\n")
        self.proc = ManagedProcess(["redis-server", conf], log_path=os.path.join(self.dir, "redis.log"))
        wait_for(lambda: port_open(self.port), 20, what=f"redis on {self.port}")
        return self

    def client(self, user: str = "admin"):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, username=user, password=self.users[user][0])

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
