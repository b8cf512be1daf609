"""A release that fails anywhere before or during the switch never keeps traffic: under load
through nginx no request fails, none reaches its slot through nginx, the live release keeps
serving untouched, the failed slot is stopped, and the run fails with one message naming the
release's slot, the step and the cause."""

import pytest
from stack import assert_no_request_failed


def _import_error(src):
    (src / "main.py").write_text("raise RuntimeError('this release cannot start')\n")


def _new_message(src):
    main = src / "main.py"
    main.write_text(main.read_text().replace('"Hello World"', '"Hello from a release whose hook fails"'))


CASES = {
    # name: (change to the source, extra vars, what the failure message must say)
    # The gate sees the slot's unit exit and gives up at once (health_check's unit option). An app that
    # raises in its startup (lifespan) takes the same path: the worker fails to boot, gunicorn exits.
    "import-error": (
        _import_error,
        {},
        ["Gate the release on its own socket", "and will not: its unit", "this release cannot start"],
    ),
    # A release whose endpoint never answers as expected (a 503 /ready, the wrong JSON, a 404) keeps the
    # gate polling until release_gate_timeout: test_c_second_app.py's app without the role's default
    # endpoints (404), and tests/unit/plugins/modules/test_health_check.py (503, test_json_mismatch_*).
    "failing-hook": (
        _new_message,
        {
            "release_hooks": [
                {"name": "migrate", "command": "python -c 'import sys; sys.exit(\"migration 0042 failed\")'"}
            ]
        },
        ["hook 'migrate' exited with 1", "migration 0042 failed"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_failing_release_never_takes_traffic(bundled, example_copy, case):
    change, extra, expected = CASES[case]
    change(example_copy)
    slot, idle, release = bundled.live_slot(), bundled.idle_slot(), bundled.live_release()
    releases_before = bundled.releases()

    run, summary, upstreams = bundled.deploy_under_load(
        {"app_source": "local", "app_source_path": str(example_copy), **extra}
    )

    task, message = run.failure()
    assert run.returncode != 0
    assert task == "pyops.fastapi.release : Fail the deploy", (task, message)
    assert f"did not go live in slot {idle}" in message, message
    for words in expected:
        assert words in message, message
    assert f"The live release keeps serving from slot {slot}." in message, message

    assert_no_request_failed(summary)
    assert set(summary["releases"]) == {release}, summary
    assert set(upstreams) == {bundled.live_socket}, upstreams
    assert (bundled.live_slot(), bundled.live_release()) == (slot, release)
    assert not bundled.is_active(idle)
    # The release built for nothing is gone; the kept ones are untouched.
    assert bundled.releases() == releases_before
