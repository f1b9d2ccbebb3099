"""Where the shared data lives: ``$NNI_CNAS_DATA``, else ``../shared/data`` next to the project."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Optional[Path]:
    """The shared data folder, or None when there is none (then only explicit paths work)."""
    env = os.environ.get('NNI_CNAS_DATA')
    candidates = [Path(env)] if env else [PROJECT_ROOT.parent / 'shared' / 'data', Path.cwd().parent / 'shared' / 'data']
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None
