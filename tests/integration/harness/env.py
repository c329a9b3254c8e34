"""Where the tests run: the project root, ../shared, and the prefix of everything a test run starts.

The one place that reads ODOOOPS_TEST_PREFIX: each pytest process gets its own (scripts/run-tests.sh gives every
run one), and the names of its simulated hosts, their network, its stacks, containers and files start with it.
A file that needs a prefix of its own derives it from TEST_PREFIX (e.g. TEST_PREFIX + "demo-").
"""
from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# ../shared (schemas, recipes): beside the project in development and CI only
SHARED = os.environ.get("ODOOOPS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
# the name of the variable, for the tests that start a process which must not inherit it (the demo's `make demo`)
TEST_PREFIX_VAR = "ODOOOPS_TEST_PREFIX"
TEST_PREFIX = os.environ.get(TEST_PREFIX_VAR, "odooops-t-")
TEST_NETWORK = TEST_PREFIX + "lan"
