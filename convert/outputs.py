"""Output paths of the convert commands, checked before the work: a minutes-long run must not
end in a traceback, or write over the model it read."""
from __future__ import annotations

import os
from pathlib import Path


def out_problem(out: Path, option: str = "--out", suffix: str | None = ".keras", reads: tuple = (),
                makes_folders: bool = True) -> str | None:
    """Why `out` could not be written (None: it can). `suffix`: the ending it must have;
    `reads`: files the command reads, which it must not write over; `makes_folders`: the
    command makes missing folders on the way (else they must be there)."""
    if suffix and out.suffix != suffix:
        return f"{option} {out} must end in {suffix}"
    if out.is_dir():
        return f"{option} {out} is a folder; give a file name"
    folder = next((d for d in out.absolute().parents if d.exists()), None)
    if folder is not None and not folder.is_dir():
        return f"{option} {out}: {folder} is a file, not a folder"
    if not makes_folders and folder != out.absolute().parent:
        return f"{option} {out}: folder {out.parent} not found"
    if folder is None or not os.access(folder, os.W_OK | os.X_OK):
        return f"{option} {out}: cannot write in {folder or out.parent}"
    if out.exists() and not os.access(out, os.W_OK):
        return f"{option} {out} is not writable"
    if any(Path(r).exists() and out.resolve() == Path(r).resolve() for r in reads):
        return f"{option} {out} is a file this command reads; give another name"
    if folder == out.absolute().parent and not out.exists():  # the surest test (root passes os.access anywhere),
        probe = folder / f".{out.name}.probe-{os.getpid()}"  # on a name of its own: `out` may be a dangling link
        try:
            with open(probe, "xb"):
                pass
            probe.unlink()
        except OSError as e:
            return f"{option} {out}: cannot write ({e.strerror or e})"
    return None


def export_problem(keras: Path, out: Path) -> str | None:
    """An export writes `out` (.tflite) and its .json metadata beside it, both apart from `keras`."""
    return out_problem(out, suffix=".tflite", reads=(keras,)) or out_problem(
        out.with_suffix(".json"), f"--out {out}'s metadata", suffix=None, reads=(keras,))
