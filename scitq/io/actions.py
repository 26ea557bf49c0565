"""Provides v1's actions on downloaded files: `|gunzip`, `|untar`, `|unzip` (`|mv:<dir>` only moves the
destination, see `destination_for`). Archives are removed once unpacked, like gunzip does."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from scitq.io.errors import NoRetry

__all__ = ["apply_action", "destination_for"]


def destination_for(dest: Path, action: str | None) -> Path:
    """Where a download lands: `dest`, or `dest/<dir>` for `|mv:<dir>`."""
    if action and action.startswith("mv:"):
        return dest / action[3:]
    return dest


def apply_action(action: str | None, files: list[Path]) -> list[Path]:
    """Apply `action` to freshly downloaded `files`; return the files that result."""
    if not action or action.startswith("mv:"):
        return files
    out: list[Path] = []
    for path in files:
        try:
            if action == "gunzip":
                out.append(_gunzip(path))
            elif action == "untar":
                out.extend(_untar(path))
            elif action == "unzip":
                out.extend(_unzip(path))
            else:
                raise NoRetry(f"unknown action {action!r}")
        except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, subprocess.CalledProcessError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(":")
            raise NoRetry(f"{action} of {path.name} failed: {first}") from None
    return out


def _gunzip(path: Path) -> Path:
    if not path.name.endswith(".gz"):
        raise NoRetry(f"gunzip of {path.name} failed: not a .gz file")
    target = path.with_name(path.name[:-3])
    pigz = shutil.which("pigz")
    if pigz:
        subprocess.run([pigz, "-d", "-f", str(path)], check=True, capture_output=True)
    else:
        with gzip.open(path, "rb") as fin, open(target, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        path.unlink()
    return target


def _untar(path: Path) -> list[Path]:
    where = path.parent
    with tarfile.open(path) as tar:   # .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(where, members=members, filter="data")
        names = [where / m.name for m in members if m.isfile()]
    path.unlink()
    return names


def _unzip(path: Path) -> list[Path]:
    where = path.parent
    with zipfile.ZipFile(path) as zf:
        names = []
        for info in zf.infolist():
            target = os.path.normpath(where / info.filename)
            if not target.startswith(str(where) + os.sep):
                raise NoRetry(f"unzip of {path.name} failed: {info.filename!r} leaves the folder")
            zf.extract(info, where)
            if not info.is_dir():
                names.append(Path(target))
    path.unlink()
    return names
