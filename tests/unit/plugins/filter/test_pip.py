# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pip_failure, the one line the app role's build fails with when pip fails. The outputs are pip 23's
(Debian 12), as it printed them in the deploy scenario's build faults."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.pyops.fastapi.plugins.filter.pip import pip_failure


def _retries(cause, url="/simple/gunicorn/"):
    return "".join(
        f"WARNING: Retrying (Retry(total={left}, connect=None, read=None, redirect=None, status=None)) after "
        "connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at "
        f"0x7fd11743f690>: Failed to establish a new connection: {cause}')': {url}\n"
        for left in range(4, -1, -1)
    )


NOT_FOUND = (
    "ERROR: Could not find a version that satisfies the requirement gunicorn==27.0.1 (from versions: none)\n"
    "ERROR: No matching distribution found for gunicorn==27.0.1\n"
)


def test_an_index_that_refuses_connections_is_named_with_the_cause():
    output = "Looking in indexes: http://127.0.0.1:9/simple/\n" + _retries("[Errno 111] Connection refused") + NOT_FOUND

    assert pip_failure(output, 1) == (
        "pip exited with status 1: it could not reach the package index http://127.0.0.1:9/simple/ "
        "([Errno 111] Connection refused, after its retries). "
        "ERROR: Could not find a version that satisfies the requirement gunicorn==27.0.1 (from versions: none) "
        "ERROR: No matching distribution found for gunicorn==27.0.1"
    )


def test_pypi_unresolvable_is_named_when_no_index_is_configured():
    output = _retries("[Errno -3] Temporary failure in name resolution") + NOT_FOUND

    message = pip_failure(output, 1)

    assert message.startswith(
        "pip exited with status 1: it could not reach the package index https://pypi.org/simple "
        "([Errno -3] Temporary failure in name resolution, after its retries). ERROR: Could not find"
    ), message


def test_credentials_in_an_index_url_are_masked():
    output = "Looking in indexes: https://deploy:s3cr3t@pypi.example.test/simple/\n" + _retries(
        "[Errno 113] No route to host"
    )

    message = pip_failure(output, 1)

    assert "s3cr3t" not in message and "deploy" not in message, message
    assert "the package index https://***@pypi.example.test/simple/ ([Errno 113] No route to host" in message


def test_a_full_disk_gives_pips_own_error():
    output = (
        "Collecting fastapi==0.165.0\n  Downloading fastapi-0.165.0-py3-none-any.whl (95 kB)\n"
        "Installing collected packages: typing-extensions, sniffio, idna, annotated-types, pydantic-core\n"
        "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n"
    )

    assert pip_failure(output, 1) == (
        "pip exited with status 1: ERROR: Could not install packages due to an OSError: "
        "[Errno 28] No space left on device"
    )


def test_without_error_lines_the_last_three_lines_are_given():
    output = "one\ntwo\n\nthree\nfour\nfour\n"

    assert pip_failure(output, 2) == "pip exited with status 2: two three four"


def test_an_unknown_status_and_a_wrong_input():
    assert pip_failure("ERROR: killed", None) == "pip exited with status unknown: ERROR: killed"
    with pytest.raises(AnsibleFilterError, match="expects pip's output"):
        pip_failure(None)


def test_stdout_and_stderr_as_lists_of_lines():
    stdout = ["Looking in indexes: http://127.0.0.1:9/simple/"]
    stderr = _retries("[Errno 111] Connection refused").splitlines() + NOT_FOUND.splitlines()

    assert pip_failure(stdout + stderr, 1) == pip_failure("\n".join(stdout + stderr), 1)
    assert "http://127.0.0.1:9/simple/ ([Errno 111] Connection refused, after its retries). ERROR:" in pip_failure(
        stdout + stderr, 1
    )
