"""Files only their owner may read: databases with password hashes, history, secrets."""

from __future__ import annotations

import os
from pathlib import Path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it is missing (its folder with 0700), else make
    it 0600. SQLite creates its -wal / -shm / -journal files with the database's mode, so
    calling this before the first connection keeps them private too."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    else:
        os.close(fd)
    return path


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL (None for other databases and ``:memory:``)."""
    for prefix in ("sqlite+pysqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            database = url[len(prefix):].split("?", 1)[0]
            if database and database != ":memory:" and not database.startswith("file:"):
                return Path(database).expanduser()
    return None
