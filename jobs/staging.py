"""Moving files in and out of a job directory: code, input channels, checkpoints, results.

Who calls this: ``jobs.client`` (code, at create time, so the job runs the code as it was when
created, as Braket's upload does) and ``jobs.supervisor`` (inputs and checkpoints before the run;
checkpoints and ``model.tar.gz`` after it). Locations are already validated local paths.

Archives are extracted member by member after checking every name: absolute names, ``..``,
links pointing outside the target, and special files are refused with ``ValidationException``.
Everything written to a user's location goes through a temporary name and a rename.
"""

from __future__ import annotations

import os
import contextlib
import posixpath
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from jobs.errors import ValidationException


@contextlib.contextmanager
def _replacing(path: Path, suffix: str = ".tmp"):
    """Yield an open binary file beside ``path``; on success it is flushed, fsynced and renamed over
    ``path`` (then the directory is fsynced), so readers see the old or the new content, never a
    torn one; on failure the temporary file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``_replacing``)."""
    with _replacing(path) as f:
        f.write(data)


def _atomic_copy_file(src: Path, dst: Path) -> None:
    with _replacing(dst) as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 20)
        os.fchmod(out.fileno(), stat.S_IMODE(os.fstat(inp.fileno()).st_mode))


def copy_tree_contents(src: Path, dst: Path) -> None:
    """Copy the files under ``src`` into ``dst`` (overwriting, each file replaced atomically)."""
    for dirpath, _dirs, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for name in files:
            _atomic_copy_file(Path(dirpath) / name, dst / rel / name)


# --- code -------------------------------------------------------------------------------------------


def check_tar_members(tar: tarfile.TarFile, field: str) -> list[tarfile.TarInfo]:
    """The archive's members, after refusing any that could write outside the target directory."""
    members = tar.getmembers()
    for m in members:
        name = PurePosixPath(m.name)
        if name.is_absolute() or m.name.startswith(("/", "\\")) or ".." in name.parts:
            raise ValidationException(f"{field}: archive member {m.name!r} would be extracted outside the "
                                      "job directory (absolute name or '..')")
        if m.issym() or m.islnk():
            # A symlink's target is relative to its own directory, a hard link's to the archive root.
            base = name.parent if m.issym() else PurePosixPath("")
            target = posixpath.normpath(str(base / m.linkname))
            if m.linkname.startswith("/") or target == ".." or target.startswith("../"):
                raise ValidationException(
                    f"{field}: archive member {m.name!r} links to {m.linkname!r}, outside the job directory")
        elif not (m.isfile() or m.isdir()):
            raise ValidationException(f"{field}: archive member {m.name!r} is a special file (device or fifo)")
    return members


def stage_code(src: Path, kind: str, original: Path, extracted: Path, field: str) -> list[Path]:
    """Copy the code to ``original`` and unpack it to ``extracted``; return the sys.path entries."""
    original.mkdir(parents=True, exist_ok=True)
    extracted.mkdir(parents=True, exist_ok=True)
    if kind == "tar":
        shutil.copy2(src, original / src.name)
        try:
            with tarfile.open(src, "r:*") as tar:
                members = check_tar_members(tar, field)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(extracted, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4; members were checked above
                    tar.extractall(extracted, members=members)
        except tarfile.FilterError as e:
            raise ValidationException(f"{field}: unsafe archive member: {e}") from None
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ValidationException(f"{field}: cannot extract {str(src)!r}: {e}") from None
        return [extracted]
    if kind == "file":
        shutil.copy2(src, original / src.name)
        shutil.copy2(src, extracted / src.name)
        return [extracted]
    shutil.copytree(src, original / src.name, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(src, extracted / src.name, symlinks=False, dirs_exist_ok=True)
    # Like the SDK's source_module, "dir.module" works; "module" does too.
    return [extracted, extracted / src.name]


# --- input channels ----------------------------------------------------------------------------------


def stage_channel(src_uri: str, src: Path, dst: Path) -> None:
    """Stage one channel as Braket does: a directory's contents, a file, or every name with the prefix."""
    if dst.exists():
        raise ValueError(f"duplicate channel directory {dst}")
    dst.mkdir(parents=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    elif src.is_file() and not src_uri.endswith("/"):
        shutil.copy2(src, dst / src.name)
    else:
        matches = [p for p in src.parent.iterdir() if p.name.startswith(src.name)] if src.parent.is_dir() else []
        if not matches:
            raise RuntimeError(f"No data found for channel at {src_uri}")
        for p in matches:
            if p.is_dir():
                shutil.copytree(p, dst / p.name, dirs_exist_ok=True)
            else:
                shutil.copy2(p, dst / p.name)


# --- results ------------------------------------------------------------------------------------------


def pack_results(model_dir: Path, archive: Path) -> None:
    """Pack the results directory's contents to ``archive`` (model.tar.gz), replacing it atomically."""
    with _replacing(archive, suffix=".tar.gz.tmp") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        for child in sorted(model_dir.iterdir()) if model_dir.is_dir() else []:
            tar.add(child, arcname=child.name)
