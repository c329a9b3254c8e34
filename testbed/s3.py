"""S3 on loopback: moto's standalone server, optionally behind stunnel for TLS (pgBackRest needs it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from .procs import ManagedProcess, free_port, port_open, wait_for

ROOT = os.environ.get("ODOOOPS_S3_ROOT", "/var/tmp/odooops-s3")
ACCESS_KEY = "testing-access"
SECRET_KEY = "testing-secret-" + "0" * 8
REGION = "us-east-1"


class MotoServer:
    """moto_server on 127.0.0.1 (objects live in its memory and die with it)."""

    def __init__(self, port: int | None = None):
        os.makedirs(ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="moto-", dir=ROOT)
        self.port = port or free_port()
        self.proc: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
        self.proc = ManagedProcess([moto, "-H", "127.0.0.1", "-p", str(self.port)],
                                   log_path=os.path.join(self.dir, "moto.log"))
        wait_for(lambda: port_open(self.port), 30, what=f"moto on {self.port}")
        return self

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def env(self) -> dict:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
                "S3_ENDPOINT_URL": self.endpoint}

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TlsFront:
    """stunnel terminating TLS (self-signed certificate for 127.0.0.1) in front of a plain-HTTP port."""

    def __init__(self, backend_port: int, port: int | None = None):
        os.makedirs(ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="stunnel-", dir=ROOT)
        self.backend_port = backend_port
        self.port = port or free_port()
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        self.proc: ManagedProcess | None = None

    def start(self) -> TlsFront:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", self.key, "-out", self.cert], check=True, capture_output=True)
        os.chmod(self.key, 0o600)
        conf = os.path.join(self.dir, "stunnel.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            # foreground, so the process we started is the one we stop by PID
            fh.write(f"foreground = yes\npid =\n[s3]\naccept = 127.0.0.1:{self.port}\n"
                     f"connect = 127.0.0.1:{self.backend_port}\ncert = {self.cert}\nkey = {self.key}\n")
        self.proc = ManagedProcess(["stunnel4", conf], log_path=os.path.join(self.dir, "stunnel.log"))
        wait_for(lambda: port_open(self.port), 20, what=f"stunnel on {self.port}")
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
