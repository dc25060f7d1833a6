"""Writing run files so that a crash never leaves a half-written one: temp file, fsync, rename; and
reading YAML files. A bottom module: it imports nothing of semimix but ``errors``, and numpy and torch
only inside the functions that need them (the CLI reads presets through it without loading them)."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import secrets
import shutil
import socket
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import yaml

from semimix.errors import SemimixError

if TYPE_CHECKING:
    import numpy as np

LOCK = ".lock"
NEW_FILE_MODE = 0o666  # what ``open`` creates files with; the kernel takes the umask off, as for any new file


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temp file beside ``path`` (``.<name>.<random>.tmp``, what ``remove_stale_temps``
    finds), created with the mode the umask gives new files. ``tempfile.mkstemp`` creates 0600,
    which the rename would carry over, so run files came out with mixed permissions."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE), tmp
        except FileExistsError:
            continue


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write`` on a temp file beside ``path`` and rename it into place only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def load_yaml(path: str | Path, missing: str = "give the path of a YAML file") -> dict[str, Any]:
    """A YAML mapping from a file, or a clear error naming the file (``missing``: what to do when it does not exist)."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise SemimixError(f"config file {path} not found; {missing}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SemimixError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise SemimixError(f"config {path} must hold a YAML mapping (key: value lines), not {type(values).__name__}")
    return values


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_yaml(path: Path, data: Any) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed``'s format, but every member dated 1980-01-01 instead of now, so the
    same arrays always give the same bytes (a resumed run's files equal an uninterrupted run's)."""
    import numpy as np

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue(), zipfile.ZIP_DEFLATED)

    atomic_write(path, write)


def save_torch(path: Path, obj: Any) -> None:
    import torch

    atomic_write(path, lambda f: torch.save(obj, f))


def load_torch(path: Path) -> Any:
    """Checkpoints hold tensors and plain containers only, so weights_only loading suffices: a
    pickle that names any other callable (e.g. ``os.system``) is refused before anything runs."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        forbidden = re.search(r"GLOBAL (\S+)", str(exc))
        if forbidden is None:
            raise SemimixError(f"cannot read {path} (not a checkpoint pickle); the checkpoint is damaged, replace it with one semimix wrote") from None
        raise SemimixError(
            f"refused to load {path}: it refers to {forbidden.group(1)}, which no semimix checkpoint holds; "
            "nothing in it was run (a pickle can run code) — replace it with a checkpoint semimix wrote"
        ) from None
    except (OSError, EOFError, RuntimeError) as exc:
        raise SemimixError(f"cannot read {path} ({type(exc).__name__}); the checkpoint is damaged, replace it with one semimix wrote") from None


def remove_stale_temps(run_dir: Path) -> None:
    """Delete the temp files of writes a kill interrupted (never renamed, so never trusted); call
    only while holding the run's lock, when no write of this run is in flight."""
    for tmp in run_dir.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def check_writable(run_dir: Path, needed_bytes: int) -> None:
    """Fail before training, not at the first checkpoint, when the run directory cannot be created
    or written or its disk lacks room for the checkpoints (a write needs the old and the new copy)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir) as probe:
            probe.write(b"probe")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise SemimixError(f"cannot write to run directory {run_dir} ({exc.strerror or exc}); choose a writable --out") from None
    free = shutil.disk_usage(run_dir).free
    if free < needed_bytes:
        raise SemimixError(
            f"run directory {run_dir} has {free / 2**20:.1f} MiB free but its checkpoints need about "
            f"{needed_bytes / 2**20:.1f} MiB; free disk space or choose another --out"
        )


def try_lock(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` (created if absent, then naming its owner), or None when
    another process holds it. Close the returned descriptor to release it.

    ``flock`` locks die with their process, so the lock of a killed process is never stale: its
    file remains but nobody holds it, and the next process takes it over.
    """
    import fcntl  # POSIX only, like the rest of the crash-safety guarantees

    fd = os.open(path, os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


def is_locked(path: Path) -> bool:
    """Whether another open descriptor (this process's or another's) holds ``try_lock(path)``."""
    if not path.exists():
        return False
    fd = try_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False


def lock_run_dir(run_dir: Path, wait_s: float = 0.0) -> int:
    """Hold an exclusive lock on ``run_dir`` (its ``.lock`` file, which names the owner) until the
    returned descriptor is closed; a second run pointed at the same directory is refused.

    ``wait_s``: keep trying that long first. A worker that torchrun restarts needs it: the killed
    worker's forked data-loading processes inherit its lock and hold it until they notice, a few
    seconds later."""
    path = run_dir / LOCK
    deadline = time.monotonic() + wait_s
    fd = try_lock(path)
    while fd is None and time.monotonic() < deadline:
        time.sleep(0.2)
        fd = try_lock(path)
    if fd is None:
        owner = path.read_text().strip() or "another process"
        raise SemimixError(f"run directory {run_dir} is in use by {owner}; wait for that run to end or stop it, or choose another --out")
    return fd
