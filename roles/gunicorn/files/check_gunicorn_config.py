# Copyright (c) 2025, pyops maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pyops.fastapi.gunicorn, tasks/configure.yml: check a candidate gunicorn_conf.py, read on stdin.

Run as `python -c <this file's text>` with the python of the virtualenv of the release about to be
deployed, as nobody (the template module's validate). Gunicorn's own loader reads the file and checks
every setting; gunicorn --check-config would also import the app, as root. Exits non-zero with
gunicorn's message when a setting is wrong.
"""

import sys
import tempfile

from gunicorn.app.base import Application


class Check(Application):
    """A gunicorn application that loads only its configuration."""

    def load_config(self):
        with tempfile.NamedTemporaryFile("w", suffix=".py") as conf:
            conf.write(sys.stdin.read())
            conf.flush()
            self.load_config_from_file(conf.name)

    def load(self):
        pass


if __name__ == "__main__":
    Check()
