"""Checks that the CLI tests share: a refused command is one clear line and leaves a run directory
as it was; and what TensorBoard shows of a run's event files."""

from __future__ import annotations

from pathlib import Path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, hidden ones included, as {relative path: bytes}."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(code: int, err: str, *phrases: str) -> None:
    """A non-zero exit with one line on stderr, no traceback, saying each of ``phrases``."""
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (code, err)
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def event_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Each scalar tag of ``run_dir/tensorboard`` as TensorBoard shows it, [(step, value)] in order:
    its reader applies the purges of resumed attempts, so a step logged twice shows twice only if
    nothing purged it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})  # 0: keep every event
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
