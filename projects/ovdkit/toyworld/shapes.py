"""The toy world's visual vocabulary: shapes as polygons, colours as RGB."""
from typing import Dict, Tuple

import numpy as np

#: Shape name -> polygon of unit radius (vertices (K, 2), centred at 0).
SHAPE_NAMES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star', 'heart', 'hexagon',
                                'cross', 'diamond')
#: Colour name -> RGB. Saturated and far apart, so colour words are learnable.
COLORS: Dict[str, Tuple[int, int, int]] = {
    'red': (215, 35, 35), 'green': (35, 165, 55), 'blue': (35, 75, 215),
    'yellow': (235, 205, 35), 'purple': (140, 55, 190), 'orange': (245, 130, 25),
    'pink': (240, 120, 180), 'cyan': (30, 200, 210)}
DEFAULT_COLORS: Tuple[str, ...] = ('red', 'green', 'blue', 'yellow', 'purple', 'orange')


def _regular(k: int, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(k) * 2 * np.pi / k
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def shape_polygon(shape: str) -> np.ndarray:
    """Unit-radius polygon of a shape, ``(K, 2)`` (x, y), y pointing down as in images.

    Raises:
        KeyError: unknown shape (names the shape and lists the known ones).
    """
    if shape == 'circle':
        return _regular(40)
    if shape == 'square':
        return _regular(4, np.pi / 4)
    if shape == 'triangle':
        return _regular(3, -np.pi / 2)
    if shape == 'hexagon':
        return _regular(6)
    if shape == 'star':
        outer, inner = _regular(5, -np.pi / 2), 0.42 * _regular(5, -np.pi / 2 + np.pi / 5)
        return np.stack([outer, inner], axis=1).reshape(-1, 2)
    if shape == 'heart':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y], axis=1)
        pts -= (pts.max(0) + pts.min(0)) / 2
        return pts / np.abs(pts).max()
    if shape == 'cross':
        a = 0.34
        return np.array([(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1),
                         (-a, a), (-1, a), (-1, -a), (-a, -a)], dtype=float)
    if shape == 'diamond':
        return np.array([(0, -1), (0.55, 0), (0, 1), (-0.55, 0)], dtype=float)
    raise KeyError(f'unknown toy-world shape {shape!r}; known: {", ".join(SHAPE_NAMES)}')
