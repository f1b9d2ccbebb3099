"""Files written whole or a line at a time, so that a killed process never leaves a torn file:
atomic text, JSON and CSV writes (temporary file, fsync, rename) and JSON-lines logs whose torn
last line is skipped on reading."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UserError

__all__ = ['STORAGE_ERRNOS', 'atomic_write_bytes', 'read_user_text', 'check_writable_folder', 'atomic_write_text', 'atomic_write_json', 'atomic_write_csv', 'append_json_line', 'read_json_lines', 'jsonable']


#: Errors of a write that mean the storage cannot take it (full, over quota, read-only, forbidden).
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """``data`` in ``path``, written whole: a temporary file beside it (the same file system, one
    write), synced, renamed. A failed write leaves neither the temporary file nor a torn ``path``."""
    path = Path(path)
    partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
    try:
        with open(partial, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode('utf-8'))


def atomic_write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written whole (a results file of a benchmark or a run), its folder
    made if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(jsonable(data), indent=2) + '\n')


def atomic_write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV with ``columns`` first and any other keys of the rows before them."""
    buffer = io.StringIO()
    extra = [key for key in dict.fromkeys(key for row in rows for key in row) if key not in columns]
    writer = csv.DictWriter(buffer, fieldnames=[*extra, *columns])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(path), buffer.getvalue())


def append_json_line(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one whole JSON line, flushed to disk; after a line torn by a crash
    while appending, start a fresh line (:func:`read_json_lines` skips the torn one). Appends are
    locked (``flock``), so that several processes (``--shard``, array jobs) can share one file."""
    import fcntl

    path = Path(path)
    text = json.dumps(jsonable(record)) + '\n'
    with open(path, 'a+b') as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            f.seek(0, os.SEEK_END)
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b'\n':
                    text = '\n' + text
            f.seek(0, os.SEEK_END)
            f.write(text.encode('utf-8'))
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_json_lines(path: Path) -> list:
    """The JSON objects of a JSON-lines file (none when it does not exist); torn lines are skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    text = read_user_text(path, 'JSON-lines file')
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (bool, int, float)):  # numpy and torch scalars, int/float subclasses
        return value.item() if hasattr(value, 'item') else type(value).__mro__[1](value)
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        return value.item()
    return str(value)  # paths, version objects (str subclasses), anything else


def check_writable_folder(path: Path, option: str = '--out') -> None:
    """Refuse, before any work, a folder that cannot be made: one under a file, or under a folder
    this process may not write (the first error of ``mkdir``, said in one line)."""
    path = Path(path)
    ancestor = next((p for p in (path, *path.parents) if p.exists()), None)
    if ancestor is None or ancestor == path:
        return
    if not ancestor.is_dir():
        raise UserError(f'{option} {path}: {ancestor} is a file, not a folder; choose another {option}')
    if not os.access(ancestor, os.W_OK | os.X_OK) or Path('/proc') in (ancestor, *ancestor.parents):
        raise UserError(f'{option} {path}: cannot create folders in {ancestor}; choose another {option}')


def read_user_text(path: Path, what: str) -> str:
    """The text of a file a user named, or one line saying why it cannot be read (missing, a
    folder, not UTF-8 text, not readable)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f'{what} {path} does not exist')
    if path.is_dir():
        raise UserError(f'{what} {path} is a folder, not a file')
    try:
        return path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise UserError(f'{what} {path} is not UTF-8 text') from None
    except OSError as error:
        raise UserError(f'{what} {path} cannot be read ({error.strerror or error})') from None
