"""README's role variable tables are generated from the argument specs: they must match."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_readme_variables_match_argument_specs():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "role_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_role_is_documented():
    readme = (REPO / "README.md").read_text()
    for role in sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists()):
        assert f"### `pyops.fastapi.{role}`" in readme, role
