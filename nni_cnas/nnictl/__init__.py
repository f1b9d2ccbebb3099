"""Running nnictl experiments of curriculum searches safely.

NNI 3.0's manager serves its REST API and web UI on every network interface without
authentication. :func:`loopback_script` is a Node.js preload that makes it listen on 127.0.0.1
only: ``NODE_OPTIONS="--require $(nni-cnas nnictl-loopback)" nnictl create --config ...``; reach
the web UI from another machine through an SSH tunnel (``ssh -L 8080:127.0.0.1:8080 host``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Mapping, Optional

__all__ = ['loopback_script', 'loopback_env']


def loopback_script() -> Path:
    """The Node.js preload that binds NNI's manager to 127.0.0.1."""
    return Path(__file__).with_name('loopback.js')


def loopback_env(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """``env`` (default: this process's) with the preload added to ``NODE_OPTIONS``."""
    env = dict(os.environ if env is None else env)
    option = f'--require {loopback_script()}'
    env['NODE_OPTIONS'] = f'{env.get("NODE_OPTIONS", "")} {option}'.strip()
    return env
