"""Describe or pack an application source tree for the pyops.fastapi.app role.

Runs on the controller (delegated to localhost) for app_source=example|local.

    source_manifest.py ROOT [--exclude NAME ...]            -> JSON on stdout
    source_manifest.py ROOT [--exclude NAME ...] --tar OUT  -> also writes OUT (tar.gz)

The JSON holds ``revision``: a SHA-256 over every kept path, its mode (0644 or
0755: the owner's execute bit is kept) and its content, so the role builds a new
release exactly when the source changed. Names given with --exclude are left
out at any depth (directories are not even walked). Environment files (.env,
.env.*, *.env, .envrc) are never kept: the app's environment is the role's
shared/.env. Symlinks are followed (a release holds the files they point to)
only when they resolve inside ROOT: one that leaves it, dangles or loops is an
error naming it, so a link to a controller file is never published.

On an error the JSON holds ``error`` instead (exit status 0, so that Ansible's
pipe lookup shows the message); with --tar the message goes to stderr (status 1).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import stat
import sys
import tarfile

# Never packed, whatever the excludes say (fnmatch patterns on a name, at any depth).
ENV_FILE_PATTERNS = (".env", ".env.*", "*.env", ".envrc")


class SourceError(Exception):
    """The tree cannot be published as it is; the message names the path."""


def is_excluded(name: str, excluded: set[str]) -> bool:
    return name in excluded or any(fnmatch.fnmatchcase(name, pattern) for pattern in ENV_FILE_PATTERNS)


def check_link(root: str, path: str) -> str:
    """Return the real path of the symlink at path, or raise SourceError when it leaves root."""
    rel = os.path.relpath(path, root)
    target = os.readlink(path)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise SourceError(f"{rel} is a symlink to {target}, outside the source root {root}: refusing to publish it")
    if not os.path.exists(real):
        raise SourceError(f"{rel} is a symlink to {target}, which does not exist")
    if os.path.isdir(real):
        # Following a link back to a directory the walk is already inside would never end.
        parent, ancestors = os.path.dirname(path), set()
        while True:
            ancestors.add(os.path.realpath(parent))
            if parent == root:
                break
            parent = os.path.dirname(parent)
        if real in ancestors:
            raise SourceError(f"{rel} is a symlink to {target}, a directory it is inside of (a loop)")
    return real


def walk(root: str, excluded: set[str]) -> tuple[list[str], list[tuple[str, str, int]]]:
    """Return (directories, files) under root, relative and sorted; files as (path, mode, size)."""
    dirs: list[str] = []
    files: list[tuple[str, str, int]] = []
    for current, subdirs, names in os.walk(root, followlinks=True):
        subdirs[:] = sorted(name for name in subdirs if not is_excluded(name, excluded))
        rel_dir = os.path.relpath(current, root)
        for name in subdirs:
            path = os.path.join(current, name)
            if os.path.islink(path):
                check_link(root, path)
            dirs.append(os.path.normpath(os.path.join(rel_dir, name)))
        for name in sorted(names):
            if is_excluded(name, excluded):
                continue
            path = os.path.join(current, name)
            if os.path.islink(path):
                check_link(root, path)
            try:
                info = os.stat(path)
            except OSError as exc:
                raise SourceError(f"cannot read {os.path.relpath(path, root)}: {exc.strerror}") from exc
            if not stat.S_ISREG(info.st_mode):
                continue
            mode = "0755" if info.st_mode & stat.S_IXUSR else "0644"
            files.append((os.path.normpath(os.path.join(rel_dir, name)), mode, info.st_size))
    return sorted(dirs), sorted(files)


def revision(root: str, dirs: list[str], files: list[tuple[str, str, int]]) -> str:
    digest = hashlib.sha256()
    for path in dirs:
        digest.update(f"d\0{path}\0".encode())
    for path, mode, _size in files:
        digest.update(f"f\0{path}\0{mode}\0".encode())
        with open(os.path.join(root, path), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def pack(root: str, dirs: list[str], files: list[tuple[str, str, int]], out: str) -> None:
    """Write a tar.gz of the kept tree, owned by root, modes 0755/0644."""

    def entry(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.size = size
        info.mtime = int(os.stat(os.path.join(root, name)).st_mtime)
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in dirs:
            tar.addfile(entry(path, tarfile.DIRTYPE, 0o755))
        for path, mode, _size in files:
            with open(os.path.join(root, path), "rb") as handle:
                data = handle.read()
            tar.addfile(entry(path, tarfile.REGTYPE, int(mode, 8), len(data)), io.BytesIO(data))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--tar")
    args = parser.parse_args()

    root = os.path.realpath(os.path.expanduser(args.root))
    if not os.path.isdir(root):
        print(f"{root} is not a directory", file=sys.stderr)
        return 2
    try:
        dirs, files = walk(root, set(args.exclude))
    except SourceError as exc:
        if args.tar:
            print(exc, file=sys.stderr)
            return 1
        json.dump({"root": root, "error": str(exc)}, sys.stdout)
        return 0
    if args.tar:
        pack(root, dirs, files, args.tar)
    json.dump(
        {
            "root": root,
            "revision": revision(root, dirs, files),
            "directories": len(dirs),
            "files": len(files),
            "bytes": sum(size for _path, _mode, size in files),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
