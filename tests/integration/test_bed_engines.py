"""The test bed works end to end through Ansible, one real engine each (foundation)."""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest


def docker_exec(container: str, *cmd: str) -> str:
    return subprocess.run(["docker", "exec", container, *cmd], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_ansible_reaches_every_simulated_host(sim_hosts, ansible_playbook):
    run = ansible_playbook("playbooks/ping.yml")
    assert run.rc == 0, run.stdout + run.stderr
    recap = run.recap()
    assert set(recap) == {"db1", "db2", "app1"}
    assert all(r["unreachable"] == 0 and r["failed"] == 0 for r in recap.values())


def test_postgres_role_and_database_created_on_db1(sim_hosts, ansible_playbook):
    run = ansible_playbook("tests/integration/playbooks/bed_postgres.yml")
    assert run.rc == 0, run.stdout + run.stderr
    port = docker_exec(sim_hosts["db1"], "pg_conftool", "-s", "15", "bed", "show", "port")
    owner = docker_exec(sim_hosts["db1"], "runuser", "-u", "postgres", "--", "psql", "-p", port, "-XAtc",
                        "select pg_get_userbyid(datdba) from pg_database where datname = 'bed_probe_db'")
    assert owner == "bed_probe"
    again = ansible_playbook("tests/integration/playbooks/bed_postgres.yml")
    assert again.rc == 0 and again.recap()["db1"]["changed"] == 0, again.stdout


def test_app_host_starts_a_container_on_the_engine(sim_hosts, ansible_playbook):
    name = "odooops-t-bed-" + uuid.uuid4().hex[:6]
    try:
        run = ansible_playbook("tests/integration/playbooks/bed_docker.yml", extra_vars={"bed_container": name})
        assert run.rc == 0, run.stdout + run.stderr
        state = json.loads(subprocess.run(["docker", "inspect", name], check=True, capture_output=True,
                                          text=True).stdout)[0]["State"]
        assert state["Running"] is True
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def test_s3_and_redis_through_ansible(moto, s3_bucket, redis_server, ansible_playbook):
    import redis

    payload = "payload-" + uuid.uuid4().hex
    app_password = "app-" + uuid.uuid4().hex
    redis_server.client().acl_setuser("app", enabled=True, passwords=[f"+{app_password}"], keys=["app:*"],
                                      commands=["+@read", "+@write", "-@dangerous"])
    run = ansible_playbook(
        "tests/integration/playbooks/bed_s3_redis.yml",
        extra_vars={"bed_s3_endpoint": moto.endpoint, "bed_bucket": s3_bucket, "bed_payload": payload,
                    "bed_redis_port": redis_server.port, "bed_redis_password": app_password},
        env=moto.env())
    assert run.rc == 0, run.stdout + run.stderr
    body = moto.client().get_object(Bucket=s3_bucket, Key="probe/hello.txt")["Body"].read().decode()
    assert body == payload
    app = redis.Redis(host="127.0.0.1", port=redis_server.port, username="app", password=app_password)
    assert app.get("app:probe").decode() == payload
    # ACL: the default user is off, and the app user cannot leave its key space
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=redis_server.port).ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.set("other:key", "x")


def test_simulated_hosts_reach_the_lan_object_storage(lan_s3, sim_hosts, tmp_path):
    """db1 writes to the LAN's S3 (as pgBackRest or a backup would); the control node reads it back."""
    import boto3

    from testbed.s3 import ACCESS_KEY, REGION, SECRET_KEY

    s3 = boto3.client("s3", endpoint_url=lan_s3["endpoint"], region_name=REGION, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY)
    bucket = "lan-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    payload = uuid.uuid4().hex
    script = ("import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', "
              "verify=False).put_object(Bucket=sys.argv[2], Key='from-db1', Body=sys.argv[3].encode())")
    env_file = tmp_path / "s3.env"  # keys through a 0600 file, never on a command line
    env_file.write_text(f"AWS_ACCESS_KEY_ID={ACCESS_KEY}\nAWS_SECRET_ACCESS_KEY={SECRET_KEY}\n")
    env_file.chmod(0o600)
    for endpoint in (lan_s3["lan_endpoint"], lan_s3["lan_tls_endpoint"]):
        subprocess.run(["docker", "exec", "--env-file", str(env_file), sim_hosts["db1"], "python3", "-c", script,
                        endpoint, bucket, payload + endpoint], check=True, capture_output=True)
        assert s3.get_object(Bucket=bucket, Key="from-db1")["Body"].read().decode() == payload + endpoint
