# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filestore snapshot where the files are: a directory on this host (upgrade_snapshot's hard-link
functions) or a Docker volume, operated on by a one-shot helper container that mounts it.

On an app host the filestore lives in the Odoo data volume, which only the engine can see (and, in
the test bed, the host itself is a container): a helper container with ``cp -al`` / ``mv`` does the
same thing there. Names reach the script through environment variables, never through the shell.

The helper runs as the Odoo uid:gid (``user``, the owner of the filestore), never as root, with the volume
mounted where the Odoo image has its data directory (/var/lib/odoo: a new, empty volume takes that directory's
owner). A copy is made in a ``mktemp -d`` work directory (0700, random name) inside the filestore root, renamed
into place when complete, and the work directory is removed whatever happens.
"""
from __future__ import annotations

import time

from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import Engine
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap

DEFAULT_USER = "101:101"  # the Odoo image's odoo user
MOUNT = "/var/lib/odoo"

SCRIPT = r"""
set -eu
umask 077
mkdir -p "$ROOT"
cd "$ROOT"
case "$ACTION" in
probe)
  live=0; s=0; files=0
  if [ -d "$DB" ]; then live=1; files=$(find "$DB" -type f | wc -l); fi
  if [ -d "$SNAP" ]; then s=1; fi
  echo "probe live=$live snap=$s files=$files user=$(id -u):$(id -g)" ;;
create)
  work="$(mktemp -d "$ROOT/.odooops-work.XXXXXXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "work=$work"
  rm -rf "$SNAP"
  if [ -d "$DB" ]; then cp -al "$DB" "$work/copy"; chmod "$(stat -c %a "$DB")" "$work/copy"
  else mkdir -m 0750 "$work/copy"; fi
  mv "$work/copy" "$SNAP" ;;
restore)
  if [ ! -d "$SNAP" ]; then echo "no filestore snapshot $SNAP" >&2; exit 3; fi
  if [ -e "$DB" ]; then mv "$DB" "$FAILED"; echo "restored live=1"; else echo "restored live=0"; fi
  mv "$SNAP" "$DB"
  if [ "$KEEP" != 1 ] && [ -e "$FAILED" ]; then rm -rf "$FAILED"; fi ;;
drop)
  rm -rf "$SNAP" ;;
esac
"""


class VolumeFilestore:
    """Filestore operations on <volume>/<subpath>, run in a helper container of helper_image."""

    def __init__(self, engine: Engine, volume: str, helper_image: str, subpath: str = "filestore",
                 timeout: float = 600, user: str = DEFAULT_USER):
        if not isinstance(user, str) or not all(part.isdigit() for part in user.split(":")) \
                or len(user.split(":")) != 2 or user.split(":")[0] == "0":
            raise snap.SnapshotError(f"helper user {user!r}: give the Odoo uid:gid (numeric, not root)")
        self.engine = engine
        self.volume = volume
        self.image = helper_image
        self.root = MOUNT + "/" + subpath.strip("/")
        self.timeout = timeout
        self.user = user
        self.last_work = None

    def _run(self, action: str, db: str, snapshot: str, failed: str = "", keep: bool = True) -> str:
        env = [f"ROOT={self.root}", f"ACTION={action}", f"DB={db}", f"SNAP={snapshot}", f"FAILED={failed}",
               f"KEEP={1 if keep else 0}"]
        res = self.engine.run_oneshot(self.image, ["-c", SCRIPT], entrypoint=["/bin/sh"], env=env, user=self.user,
                                      binds=[f"{self.volume}:{MOUNT}"], timeout=self.timeout,
                                      labels={"org.odooops.purpose": "filestore-" + action})
        if res["exit_code"] == 3:
            raise snap.SnapshotError(f"no filestore snapshot {snapshot} in volume {self.volume} to restore")
        if res["timed_out"] or res["exit_code"] != 0:
            raise snap.SnapshotError(f"filestore {action} in volume {self.volume} failed "
                                     f"(exit {res['exit_code']}): {res['logs'].strip()[-500:]}")
        return res["logs"]

    def probe(self, db: str, snapshot: str) -> dict:
        out = self._run("probe", db, snapshot)
        line = next(ln for ln in out.splitlines() if ln.startswith("probe "))
        fields = dict(kv.split("=") for kv in line.split()[1:])
        return {"live": fields["live"] == "1", "snapshot": fields["snap"] == "1", "files": int(fields["files"]),
                "user": fields["user"]}

    def create(self, db: str, snapshot: str | None = None, check_mode: bool = False, replace: bool = False) -> dict:
        snapshot = snapshot or snap.default_snapshot_name(db)
        state = self.probe(db, snapshot)
        path = f"{self.volume}:{self.root}/{snapshot}"
        if state["snapshot"] and not replace:
            return {"changed": False, "path": path, "files": None, "duration": 0.0}
        if check_mode:
            return {"changed": True, "path": path, "files": state["files"], "duration": 0.0}
        start = time.monotonic()
        out = self._run("create", db, snapshot)
        self.last_work = next((ln[5:] for ln in out.splitlines() if ln.startswith("work=")), None)
        return {"changed": True, "path": path, "files": state["files"], "duration": round(time.monotonic() - start, 3)}

    def restore(self, db: str, snapshot: str | None = None, check_mode: bool = False, keep_failed: bool = True,
                stamp: str | None = None) -> dict:
        """One helper container (no probe first): the rollback is on the clock."""
        snapshot = snapshot or snap.default_snapshot_name(db)
        failed = snap.failed_name(db, stamp)
        if check_mode:
            if not self.probe(db, snapshot)["snapshot"]:
                raise snap.SnapshotError(f"no filestore snapshot {snapshot} in volume {self.volume} to restore")
            return {"changed": True, "path": f"{self.volume}:{self.root}/{db}", "failed_path": None, "duration": 0.0}
        start = time.monotonic()
        out = self._run("restore", db, snapshot, failed, keep_failed)
        had_live = "restored live=1" in out
        return {"changed": True, "path": f"{self.volume}:{self.root}/{db}",
                "failed_path": f"{self.volume}:{self.root}/{failed}" if keep_failed and had_live else None,
                "duration": round(time.monotonic() - start, 3)}

    def drop(self, db: str, snapshot: str | None = None, check_mode: bool = False) -> dict:
        snapshot = snapshot or snap.default_snapshot_name(db)
        state = self.probe(db, snapshot)
        if not state["snapshot"]:
            return {"changed": False, "path": f"{self.volume}:{self.root}/{snapshot}"}
        if not check_mode:
            self._run("drop", db, snapshot)
        return {"changed": True, "path": f"{self.volume}:{self.root}/{snapshot}"}
