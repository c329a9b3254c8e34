"""plugins/module_utils/postgres/etcd_auth.py against a real etcd (Debian's etcd-server, as on the db hosts) serving TLS
with client certificate authentication on 127.0.0.1: RBAC is set up idempotently, a certificate without credentials
reads and writes nothing, Patroni's user is confined to its prefix, a wrong root password is refused by name."""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import etcd_auth as ea

ROOT_PW = "root-" + os.urandom(8).hex()
PATRONI_PW = "patroni-" + os.urandom(8).hex()
PREFIX = "/odooops/15-main/"

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path, data: bytes) -> str:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return str(path)


def _issue(ca_key, ca_cert, subject: x509.Name, directory, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           False)
            .sign(ca_key, hashes.SHA256()))
    return (_write(directory / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            _write(directory / f"{name}.key", key.private_bytes(serialization.Encoding.PEM,
                                                                serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption())))


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    d = tmp_path_factory.mktemp("etcd")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test platform CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), True).sign(ca_key, hashes.SHA256()))
    ca = _write(d / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM))
    # no common name (etcd 3.4 refuses gateway clients whose certificate has one once authentication is on)
    org = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "odooops test")])
    member = _issue(ca_key, ca_cert, org, d, "member")
    client = _issue(ca_key, ca_cert, org, d, "client")
    client_port, peer_port = _free_port(), _free_port()
    conf = d / "etcd.yml"
    tls = f"cert-file: {member[0]}, key-file: {member[1]}, trusted-ca-file: {ca}, client-cert-auth: true"
    conf.write_text(f"""name: t1
data-dir: {d / 'data'}
listen-client-urls: https://127.0.0.1:{client_port}
advertise-client-urls: https://127.0.0.1:{client_port}
listen-peer-urls: https://127.0.0.1:{peer_port}
initial-advertise-peer-urls: https://127.0.0.1:{peer_port}
initial-cluster: t1=https://127.0.0.1:{peer_port}
initial-cluster-state: new
enable-v2: false
enable-grpc-gateway: true
client-transport-security: {{{tls}}}
peer-transport-security: {{{tls}}}
""")
    log = open(d / "etcd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["etcd", "--config-file", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"https://127.0.0.1:{client_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            ea.Client(endpoint, ca, *client).call("kv/range", {"key": ea.b64("x")})
            break
        except ea.EtcdError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError((d / "etcd.log").read_text()[-3000:]) from None
            time.sleep(0.2)
    yield {"endpoint": endpoint, "ca": ca, "client": client}
    proc.terminate()
    proc.wait(10)
    log.close()


def client(etcd) -> ea.Client:
    return ea.Client(etcd["endpoint"], etcd["ca"], *etcd["client"])


def test_prefix_range_end():
    assert ea.prefix_range_end("/odooops/15-main/") == b"/odooops/15-main0"
    assert ea.prefix_range_end("ab") == b"ac"
    with pytest.raises(ea.EtcdError):
        ea.prefix_range_end("")


def test_endpoint_must_be_https(etcd):
    with pytest.raises(ea.EtcdError, match="not https"):
        ea.Client(etcd["endpoint"].replace("https", "http"), etcd["ca"], *etcd["client"])


def test_rbac_set_up_once_then_nothing_to_do_and_certificates_alone_get_nothing(etcd):
    c = client(etcd)
    # check mode: reports, changes nothing (authentication stays off: anyone with a certificate may write)
    dry = ea.ensure_auth(c, ROOT_PW, "patroni", PATRONI_PW, PREFIX, check_mode=True)
    assert dry["changed"] and "enable authentication" in dry["actions"]
    assert c.call("kv/put", {"key": ea.b64(PREFIX + "probe"), "value": ea.b64("x")})[0] == 200

    first = ea.ensure_auth(c, ROOT_PW, "patroni", PATRONI_PW, PREFIX)
    assert first["changed"] and first["enabled_now"]
    assert ea.ensure_auth(c, ROOT_PW, "patroni", PATRONI_PW, PREFIX) == {
        "changed": False, "actions": [], "enabled_now": False}
    # a client certificate without credentials: no read, no write
    for path, body in (("range", {"key": ea.b64(PREFIX + "leader")}),
                       ("put", {"key": ea.b64(PREFIX + "leader"), "value": ea.b64("attacker")})):
        status, resp = c.call(f"kv/{path}", body)
        assert status == 403 and "permission denied" in ea.error_of(resp), (path, status, resp)
    # Patroni's user: its prefix only
    token, why = ea.authenticate(c, "patroni", PATRONI_PW)
    assert token, why
    assert c.call("kv/put", {"key": ea.b64(PREFIX + "leader"), "value": ea.b64("db1")}, token)[0] == 200
    status, resp = c.call("kv/put", {"key": ea.b64("/odooops/other/leader"), "value": ea.b64("x")}, token)
    assert status == 403 and "permission denied" in ea.error_of(resp)
    assert ea.authenticate(c, "patroni", "wrong-" + PATRONI_PW)[0] is None


def test_changed_patroni_password_is_set_again_and_wrong_root_password_refused(etcd):
    c = client(etcd)
    new_pw = "patroni-new-" + os.urandom(8).hex()
    run = ea.ensure_auth(c, ROOT_PW, "patroni", new_pw, PREFIX)
    assert run["actions"] == ["set patroni's password"]
    assert ea.authenticate(c, "patroni", new_pw)[0] and ea.authenticate(c, "patroni", PATRONI_PW)[0] is None
    with pytest.raises(ea.EtcdError, match="odooops_etcd_root_password is not the password") as err:
        ea.ensure_auth(c, "wrong-" + ROOT_PW, "patroni", new_pw, PREFIX)
    assert ROOT_PW not in str(err.value) and new_pw not in str(err.value)
    with pytest.raises(ea.EtcdError, match="must not be root"):
        ea.ensure_auth(c, ROOT_PW, "root", new_pw, PREFIX)
