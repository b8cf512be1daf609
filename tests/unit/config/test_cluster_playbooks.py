# Copyright (c) 2026, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every place of the playbooks that runs nginx in backend mode also says where it listens: the nginx
preflight refuses backend mode without nginx_backend_listen_addresses (0.6.0), and the cluster rollback
once missed it (found by the cluster scenario)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

PLAYBOOKS = sorted((Path(__file__).resolve().parents[3] / "playbooks").rglob("*.yml"))


def _mappings(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mappings(value)


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[path.name for path in PLAYBOOKS])
def test_backend_mode_comes_with_its_listen_addresses(playbook):
    for mapping in _mappings(yaml.safe_load(playbook.read_text())):
        if mapping.get("nginx_mode") == "backend":
            assert "nginx_backend_listen_addresses" in mapping, (playbook.name, mapping)


def test_the_cluster_playbooks_run_backend_mode():
    backends = [
        path.name
        for path in PLAYBOOKS
        for mapping in _mappings(yaml.safe_load(path.read_text()))
        if mapping.get("nginx_mode") == "backend"
    ]
    assert sorted(set(backends)) == ["cluster.yml", "cluster_rollback.yml"], backends
