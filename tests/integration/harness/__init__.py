"""The test harness: what the tests and their conftest.py files share, imported as tests.integration.harness.<module>.

env          ROOT, SHARED, TEST_PREFIX (the one reader of ODOOOPS_TEST_PREFIX), TEST_NETWORK
docker       docker() (CompletedProcess) and docker_out() (stripped stdout), DockerError
playbook     run_playbook (the `ansible_playbook` fixture), PlaybookRun: results from callback_plugins/
stack        whole stacks on the simulated hosts: TrafficSampler, remove_stack, local_inventory_copy, ...
checksums    table_checksums, tree_digest
postgres     the postgres role's test playbook, sh, lan_subnet, secrets_file, ImpostorCertificate, Writer
odoo_double  the Odoo test double: its images, DB_PASSWORD, http, DoubleRun
upgrade      the upgrade tests' Odoo-shaped database and DoubleStack
edge         the edge tests' stand-in backends, HTTP probes, cleanup_stack
secrets_env  read_vault, the secrets tests' small platform (SecretsEnv), wait_streaming
backup       STANZA, as_postgres (pgBackRest)
kmock        the kmock stand-in API server and FakeControllers
"""
