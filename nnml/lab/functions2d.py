"""Two-dimensional test functions for watching optimizers move: formula, minima, classic start, plot window.

Each ``f`` takes x and y tensors of any (equal) shape, so the same code evaluates one point for the
optimizer and a whole grid for the contour plot. Minima are the known closed-form or published
ones (FIELD_NOTES, "Lecture facts"); the tests check each is a stationary point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class Surface:
    name: str
    formula: str
    f: Callable[[Tensor, Tensor], Tensor]
    minima: tuple[tuple[float, float], ...]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    lesson: str


FUNCTIONS: dict[str, Surface] = {
    f.name: f
    for f in [
        Surface(
            "rosenbrock", "(1 - x)^2 + 100 (y - x^2)^2",
            lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
            ((1.0, 1.0),), (-1.2, 1.0), (-2.0, 2.0), (-1.0, 3.0),
            "a long curved valley: gradient descent crawls along its floor, momentum and Adam keep speed",
        ),
        Surface(
            "beale", "(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            lambda x, y: (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2,
            ((3.0, 0.5),), (1.0, 1.5), (-4.5, 4.5), (-4.5, 4.5),
            "flat plateaus and steep walls: gradient sizes vary by orders of magnitude",
        ),
        Surface(
            "himmelblau", "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
            ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
            (-0.5, -0.5), (-5.0, 5.0), (-5.0, 5.0),
            "four equal minima: which one an optimizer reaches depends on its path, not only on the start",
        ),
        Surface(
            "saddle", "x^2 + y^4 / 4 - y^2",
            lambda x, y: x**2 + y**4 / 4 - y**2,
            ((0.0, 1.4142135623730951), (0.0, -1.4142135623730951)), (-1.5, 1e-3), (-2.0, 2.0), (-2.0, 2.0),
            "a saddle at the origin: plain gradient descent lingers where the gradient vanishes",
        ),
        Surface(
            "ill_conditioned", "(x^2 + 50 y^2) / 2",
            lambda x, y: (x**2 + 50 * y**2) / 2,
            ((0.0, 0.0),), (-4.0, 1.0), (-5.0, 5.0), (-2.0, 2.0),
            "condition number 50: a step small enough for y is too small for x, so SGD zig-zags",
        ),
    ]
}
