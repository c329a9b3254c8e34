"""Stand-in for the pip bootstrap script ansible-test downloads (get-pip-<version>.py from a host that is not
reachable here): ansible-test runs it with the interpreter of a fresh virtual environment, with pip's install
options and the pinned packages as arguments (and get-pip's own --no-setuptools / --no-wheel, which only say not
to add those two: this script never does). It installs the pip that ensurepip bundles, then lets that pip
install what ansible-test asked for (from PyPI, through the machine's pip configuration)."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", *args]))
