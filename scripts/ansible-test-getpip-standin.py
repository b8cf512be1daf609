# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Put a stand-in for get-pip.py where ansible-test looks before downloading it.

ansible-test sanity bootstraps pip into each of its virtualenvs with get-pip.py downloaded from
ci-files.testing.ansible.com, after looking in ~/.ansible/test/cache/get_pip_<pip version>.py.
Where that host is unreachable, this writes a stand-in there that seeds pip with the interpreter's
own ensurepip, then runs `pip install` with the arguments ansible-test gives (dropping get-pip's own
--no-setuptools/--no-wheel, which pip does not know), so the packages still come from the configured
package index.

Usage (with the Python of the virtualenv that holds ansible-test):
    .venv/bin/python scripts/ansible-test-getpip-standin.py            # pip version read from ansible-test
    .venv/bin/python scripts/ansible-test-getpip-standin.py --pip-version 24.2 --force
Prints the path written. It leaves an existing file alone unless --force is given.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

STANDIN = '''\
"""Stand-in for get-pip.py written by scripts/ansible-test-getpip-standin.py (pip {version})."""
import subprocess
import sys

GET_PIP_ONLY = {{"--no-setuptools", "--no-wheel"}}
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
'''


def ansible_test_pip_version():
    """Read the pip version ansible-test pins for its virtualenvs (get_venv_packages)."""
    try:
        import ansible_test  # noqa: PLC0415  # pylint: disable=import-outside-toplevel
    except ImportError:
        sys.exit("ansible_test is not importable: run this with the Python of the virtualenv that has ansible-core.")
    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"default_packages\s*=\s*dict\(\s*pip='([0-9.]+)'", source.read_text())
    if not match:
        sys.exit(f"Cannot find the pinned pip version in {source}; pass --pip-version.")
    return match.group(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--pip-version", help="pip version ansible-test asks for (default: read from ansible-test)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args()

    version = args.pip_version or ansible_test_pip_version()
    path = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    if path.exists() and not args.force:
        print(f"{path} exists, left alone (use --force to replace it)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STANDIN.format(version=version))
    print(path)


if __name__ == "__main__":
    main()
