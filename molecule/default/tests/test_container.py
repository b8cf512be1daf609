"""The container harness the scenarios stand on (it was a scenario of its own, `harness`, until 0.7.0):
systemd runs the container as on a VM, nothing failed at boot or in the converge, and the host's
extra CAs (a proxy's, for the package mirrors) are trusted inside it."""


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_no_unit_failed(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout


def test_facts_see_a_container(host):
    virt = host.run("systemd-detect-virt --container").stdout.strip()
    assert virt in {"docker", "container-other"}


def test_host_extra_cas_are_trusted(host):
    assert host.file("/etc/ssl/certs/ca-certificates.crt").exists
    for name in host.run("ls /usr/local/share/ca-certificates/").stdout.split():
        pem = host.file(f"/etc/ssl/certs/{name.removesuffix('.crt')}.pem")
        assert pem.exists, f"{name} is not linked into /etc/ssl/certs"
