"""Wrong input fails early, names the variable, and changes nothing on the host."""

import pytest

BAD_INPUTS = [
    ({"app_name": "Bad Name!"}, "app_name"),
    ({"app_secret_key": ""}, "app_secret_key"),
    ({"app_secret_key": "your-secret-key-here"}, "app_secret_key"),
    ({"app_secret_key": "short-key"}, "app_secret_key"),
    ({"app_source": "local", "app_source_path": "/nonexistent/app"}, "app_source_path"),
    ({"app_server_packages": ["gunicorn"]}, "app_server_packages"),
    ({"gunicorn_workers": 0}, "gunicorn_workers"),
    ({"gunicorn_worker_class": "uvicorn.workers.UvicornWorker"}, "gunicorn_worker_class"),
    ({"gunicorn_bind": "127.0.0.1:8000"}, "gunicorn_bind"),
    ({"nginx_server_name": "not a host!"}, "nginx_server_name"),
    ({"nginx_https_port": 99999}, "nginx_https_port"),
    # gunicorn would close idle upstream connections before nginx does.
    ({"gunicorn_keepalive": 30}, "nginx_upstream_keepalive_timeout"),
    ({"certbot_mode": "acme", "certbot_email": "not-an-email"}, "certbot_email"),
    ({"release_health_endpoints": [{"path": "health"}]}, "release_health_endpoints"),
    ({"release_hooks": [{"name": "migrate"}]}, "release_hooks"),
    ({"release_keep": 0}, "release_keep"),
]


@pytest.mark.parametrize(("extra_vars", "variable"), BAD_INPUTS, ids=[case[1] for case in BAD_INPUTS])
def test_bad_input_fails_before_any_change(host_state, run_site, extra_vars, variable):
    before = host_state()
    run = run_site(extra_vars)
    task, message = run.failure()
    assert run.returncode != 0, run.tail()
    # The run stopped in the first play (preflight or argument validation), naming the variable.
    assert task is not None, run.tail()
    assert variable in message, (task, message)
    assert host_state() == before, "the failed run changed files on the host"
