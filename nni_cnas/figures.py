"""matplotlib off screen (Agg, so figures work on a headless machine) and PNGs written whole."""

from __future__ import annotations

from pathlib import Path

__all__ = ['pyplot', 'save_figure']


def pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> None:
    """Write next to the target, then rename: no half-written PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + '.partial')
    figure.savefig(partial, format=path.suffix.lstrip('.') or 'png', dpi=120, bbox_inches='tight')
    partial.replace(path)
