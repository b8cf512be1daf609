"""Wrong input fails early, names the variable, and changes nothing on the host."""

import pytest

BAD_INPUTS = [
    ({"app_name": "Bad Name!"}, "app_name"),
    ({"app_secret_key": ""}, "app_secret_key"),
    ({"app_secret_key": "your-secret-key-here"}, "app_secret_key"),
    ({"app_secret_key": "short-key"}, "app_secret_key"),
    ({"app_source": "local", "app_source_path": "/nonexistent/app"}, "app_source_path"),
    ({"app_keep_releases": 0}, "app_keep_releases"),
    ({"gunicorn_workers": 0}, "gunicorn_workers"),
    ({"gunicorn_worker_class": "uvicorn.workers.UvicornWorker"}, "gunicorn_worker_class"),
    ({"gunicorn_bind": "127.0.0.1:70000"}, "gunicorn_bind"),
    ({"nginx_server_name": "not a host!"}, "nginx_server_name"),
    ({"nginx_https_port": 99999}, "nginx_https_port"),
    ({"certbot_mode": "acme", "certbot_email": "not-an-email"}, "certbot_email"),
]


@pytest.mark.parametrize(("extra_vars", "variable"), BAD_INPUTS, ids=[case[1] for case in BAD_INPUTS])
def test_bad_input_fails_before_any_change(host_state, run_site, extra_vars, variable):
    before = host_state()
    result = run_site(extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert variable in output, output[-3000:]
    assert host_state() == before, "the failed run changed files on the host"
