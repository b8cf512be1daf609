"""`ansible-playbook --check` on the converged host: it reports no change and changes nothing. (On a fresh
host the scenario's `check` step, before the converge, runs the site playbook in check mode: it must
get through every role, reporting what it would do.)"""

import pytest


@pytest.mark.same_on_every_distro
def test_check_mode_on_the_converged_host_reports_no_change(run_site, host_state):
    before = host_state()
    run = run_site({}, "--check")
    assert run.returncode == 0, run.failure()
    assert [stats["changed"] for stats in run.changed().values()] == [0], run.changed()
    assert host_state() == before
