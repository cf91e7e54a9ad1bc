"""Snapshot backups onto the NAS: copy, manifest, atomic rename, verify, prune.

A snapshot is ``<target>/<YYYYmmddTHHMMSSZ>/`` holding one folder per source and a
``MANIFEST.json`` (relative path, size, sha256 per file) written last. The copy is built in
``<target>/.tmp-*`` and renamed into place only when complete, so a crash never leaves a
half-written snapshot that looks finished. Every function here blocks: run it in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from spark.core.errors import SparkError

MANIFEST = "MANIFEST.json"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SNAPSHOT_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
CHUNK = 1 << 20


class BackupError(SparkError):
    """A backup could not be made (missing source, target not writable, copy failed)."""


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str  # POSIX, relative to the snapshot folder
    size: int
    sha256: str | None = None  # None for symlinks
    link: str | None = None  # symlink target


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    created: datetime
    method: str
    sources: dict[str, str]  # folder in the snapshot -> original path
    files: list[ManifestEntry]

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.files)


@dataclass(slots=True)
class BackupResult:
    snapshot: Path
    files: int
    bytes: int
    duration_s: float
    method: str
    pruned: list[str] = field(default_factory=list)


@dataclass(slots=True)
class VerifyResult:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.extra)

    def summary(self) -> str:
        if self.ok:
            return f"{self.checked} files verified"
        parts = [f"{len(v)} {k}" for k, v in (("missing", self.missing),
                 ("changed", self.mismatched), ("unexpected", self.extra)) if v]
        return f"{', '.join(parts)} of {self.checked} files"


def snapshot_time(path: Path) -> datetime | None:
    match = SNAPSHOT_RE.match(path.name)
    if not match:
        return None
    return datetime.strptime(match.group(1), STAMP_FORMAT).replace(tzinfo=UTC)


def list_snapshots(target: Path) -> list[Path]:
    """Complete snapshots (name matches, manifest present), oldest first."""
    if not target.is_dir():
        return []
    found = [p for p in target.iterdir()
             if p.is_dir() and SNAPSHOT_RE.match(p.name) and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: (snapshot_time(p), p.name))


def prune(target: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` snapshots; returns the deleted names."""
    snapshots = list_snapshots(target)
    doomed = snapshots[:-keep] if keep > 0 else snapshots
    for path in doomed:
        shutil.rmtree(path)
    return [p.name for p in doomed]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(src: Path, dst: Path) -> tuple[int, str]:
    """Copy and hash in one pass (the manifest describes exactly the bytes written)."""
    digest, size = hashlib.sha256(), 0
    with src.open("rb") as fin, dst.open("xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    with contextlib.suppress(OSError):
        shutil.copystat(src, dst)
    return size, digest.hexdigest()


def _copy_tree(src: Path, dst: Path, root: Path) -> list[ManifestEntry]:
    entries: list[ManifestEntry] = []
    if src.is_symlink() or not src.is_dir():
        return [_copy_one(src, dst, root)] if _copyable(src) else []
    dst.mkdir()
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        out = dst / here.relative_to(src)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                entries.append(_copy_one(here / name, out / name, root))
            else:
                (out / name).mkdir()
        for name in sorted(filenames):
            if _copyable(here / name):
                entries.append(_copy_one(here / name, out / name, root))
    return entries


def _copyable(path: Path) -> bool:
    return path.is_symlink() or path.is_file()  # sockets, fifos, devices are skipped


def _copy_one(src: Path, dst: Path, root: Path) -> ManifestEntry:
    rel = dst.relative_to(root).as_posix()
    if src.is_symlink():
        link = os.readlink(src)
        os.symlink(link, dst)
        return ManifestEntry(path=rel, size=0, link=link)
    size, digest = _copy_file(src, dst)
    return ManifestEntry(path=rel, size=size, sha256=digest)


def _entries_of(folder: Path, root: Path) -> list[ManifestEntry]:
    """Manifest entries for a tree already copied (by rsync)."""
    entries = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            entries.append(ManifestEntry(path=rel, size=0, link=os.readlink(path)))
        elif path.is_file():
            entries.append(ManifestEntry(path=rel, size=path.stat().st_size,
                                         sha256=_hash_file(path)))
    return entries


CANCEL_POLL_S = 0.2  # how often a running rsync looks at the cancel flag


def _rsync(src: Path, dst: Path, previous: Path | None,
           cancel: threading.Event | None = None) -> None:
    """rsync ``src`` to ``dst``; ``cancel`` set meanwhile ends rsync (its process group) and
    raises :class:`BackupError` (a cancelled backup must not leave rsync writing)."""
    argv = ["rsync", "-a", "--no-specials", "--no-devices"]
    if previous is not None and previous.is_dir():
        argv.append(f"--link-dest={previous}")  # unchanged files become hard links
    argv += [f"{src}/" if src.is_dir() else str(src), str(dst if src.is_dir() else dst.parent)]
    if not src.is_dir():
        dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as err:  # a file: a full pipe would stall rsync
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
        while True:
            try:
                code = proc.wait(CANCEL_POLL_S)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    with contextlib.suppress(OSError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise BackupError(f"rsync of {src} cancelled") from None
        err.seek(0)
        stderr = err.read()[-4096:].decode(errors="replace")
    if code != 0:
        raise BackupError(f"rsync of {src} failed (exit {code}): {stderr.strip()[-300:]}")


def _source_names(sources: list[Path]) -> dict[str, Path]:
    names: dict[str, Path] = {}
    for src in sources:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", src.resolve().name) or "root"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names[name] = src
    return names


def run_backup(sources: list[Path], target: Path, *, keep: int, method: str = "python",
               now: datetime | None = None,
               cancel: threading.Event | None = None) -> BackupResult:
    """Snapshot ``sources`` into ``target``; raises :class:`BackupError`. ``cancel`` set
    (the node's task was cancelled: this runs in a thread) stops it between sources and ends
    a running rsync; the unfinished snapshot is removed by the next run."""
    started = time.monotonic()
    when = (now or datetime.now(UTC)).astimezone(UTC)
    for src in sources:
        if not src.exists():
            raise BackupError(f"backup source {src} does not exist")
    if method == "rsync" and shutil.which("rsync") is None:
        method = "python"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob(".tmp-*"):  # left by a crash or a cancelled run
            shutil.rmtree(stale, ignore_errors=True)
        stamp = when.strftime(STAMP_FORMAT)
        tmp = target / f".tmp-{stamp}-{os.getpid()}"
        tmp.mkdir()
        snapshots = list_snapshots(target)
        previous = snapshots[-1] if snapshots else None
        names = _source_names(sources)
        entries: list[ManifestEntry] = []
        for name, src in names.items():
            if cancel is not None and cancel.is_set():
                raise BackupError("backup cancelled")
            if method == "rsync":
                _rsync(src, tmp / name, previous / name if previous else None, cancel)
                entries += _entries_of(tmp / name, tmp) if (tmp / name).is_dir() else \
                    [ManifestEntry(path=name, size=(tmp / name).stat().st_size,
                                   sha256=_hash_file(tmp / name))]
            else:
                entries += _copy_tree(src, tmp / name, tmp)
        manifest = Manifest(created=when, method=method,
                            sources={n: str(p) for n, p in names.items()},
                            files=sorted(entries, key=lambda e: e.path))
        with (tmp / MANIFEST).open("xb") as fh:  # written last: its presence marks completion
            fh.write(manifest.model_dump_json(indent=1).encode())
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
        final, n = target / stamp, 2
        while final.exists():
            final, n = target / f"{stamp}-{n}", n + 1
        os.rename(tmp, final)
        _fsync_dir(target)
        pruned = prune(target, keep)
    except OSError as exc:
        raise BackupError(f"backup to {target} failed: {exc}") from exc
    return BackupResult(final, len(manifest.files), manifest.total_bytes,
                        round(time.monotonic() - started, 3), method, pruned)


def load_manifest(snapshot: Path) -> Manifest:
    try:
        return Manifest.model_validate_json((snapshot / MANIFEST).read_bytes())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{snapshot}: unreadable manifest: {exc}") from exc


def verify_snapshot(snapshot: Path) -> VerifyResult:
    """Re-hash every file against the manifest; also reports files the manifest lacks."""
    manifest = load_manifest(snapshot)
    result = VerifyResult()
    listed = set()
    for entry in manifest.files:
        result.checked += 1
        listed.add(entry.path)
        path = snapshot / entry.path
        if not path.is_symlink() and not path.exists():
            result.missing.append(entry.path)
        elif entry.link is not None:
            if not path.is_symlink() or os.readlink(path) != entry.link:
                result.mismatched.append(entry.path)
        elif (path.is_symlink() or not path.is_file() or path.stat().st_size != entry.size
              or _hash_file(path) != entry.sha256):
            result.mismatched.append(entry.path)
    for path in snapshot.rglob("*"):
        rel = path.relative_to(snapshot).as_posix()
        if (path.is_file() or path.is_symlink()) and rel != MANIFEST and rel not in listed:
            result.extra.append(rel)
    return result
