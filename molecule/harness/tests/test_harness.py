"""The harness works: systemd runs the container, units start, the host's CAs are trusted."""


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_is_running(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout


def test_probe_unit_runs_under_hardening(host):
    probe = host.service("harness-probe.service")
    assert probe.is_running
    assert probe.is_enabled


def test_facts_see_a_container(host):
    virt = host.run("systemd-detect-virt --container").stdout.strip()
    assert virt in {"docker", "container-other"}


def test_host_extra_cas_are_trusted(host):
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt")
    assert bundle.exists
    extra = host.run("ls /usr/local/share/ca-certificates/").stdout.split()
    for name in extra:
        pem = host.file(f"/etc/ssl/certs/{name.removesuffix('.crt')}.pem")
        assert pem.exists, f"{name} is not linked into /etc/ssl/certs"
