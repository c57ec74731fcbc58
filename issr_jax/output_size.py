"""Any output size: super-resolve at an integer scale, then MATLAB-bicubic resize to the size asked.

The method works at integer scales (its inverse models integer subsampling). A request
for another size is met by super-resolving at the smallest integer scale that reaches it
(at least 2), then resizing down with MATLAB's bicubic `imresize` (antialiased):

- `outscale` (a real number > 1): `round(outscale x H) x round(outscale x W)`, at
  scale `ceil(outscale)`; an integer `outscale` is exactly `scale`.
- `width` and/or `height` in pixels: one of them alone keeps the aspect ratio (the other
  side rounded), both give exactly that size; the scale is `ceil` of the larger ratio.

So `outscale=2.5` costs a x3 super-resolution (1.44 times the output pixels) plus one
resize, and the resize's antialiasing filter softens the result slightly compared with
the x3 image it comes from. Rounding is half up.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from issr_jax.pipeline import SuperResolution, super_resolve
from issr_jax.resize import imresize

__all__ = ["OutputPlan", "SizeRequest", "plan_output", "resize_to_plan", "super_resolve_to_size"]


@dataclasses.dataclass(frozen=True)
class SizeRequest:
    """How large the output should be: exactly one of `scale`, `outscale`, or `width`
    and/or `height`.

    Attributes:
        scale: integer factor >= 2 (no resize).
        outscale: real factor > 1.
        width, height: output sides in pixels (one alone keeps the aspect ratio).

    Raises:
        ValueError: none or several of the three given, or a value out of range.
    """

    scale: int | None = None
    outscale: float | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self):
        given = [name for name in ("scale", "outscale") if getattr(self, name) is not None]
        if self.width is not None or self.height is not None:
            given.append("width/height")
        if len(given) != 1:
            raise ValueError(f"give exactly one of scale, outscale, or width/height; got {given or 'none'}")
        if self.scale is not None and (not _is_int(self.scale) or self.scale < 2):
            raise ValueError(f"scale must be an integer >= 2, got {self.scale!r}")
        if self.outscale is not None:
            if isinstance(self.outscale, bool) or not isinstance(self.outscale, int | float):
                raise ValueError(f"outscale must be a number > 1, got {self.outscale!r}")
            if not (math.isfinite(self.outscale) and self.outscale > 1):
                raise ValueError(f"outscale must be a finite number > 1 (e.g. 1.5, 2.5), got {self.outscale!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"{name} must be a positive integer (pixels), got {value!r}")

    def minimum_scale(self) -> int:
        """The integer scale known before the input's size is: exact for `scale` and
        `outscale`, 2 (the least there is) for a width or height."""
        if self.scale is not None:
            return self.scale
        if self.outscale is not None:
            return math.ceil(self.outscale)
        return 2


class OutputPlan(NamedTuple):
    """The output of one image.

    Attributes:
        height, width: the output's size in pixels.
        scale: the integer factor super-resolved at; the result is resized to
            `height x width` when that differs from `scale x` the input.
    """

    height: int
    width: int
    scale: int


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def plan_output(shape: tuple[int, ...], request: SizeRequest) -> OutputPlan:
    """The output size and integer scale for an input of `shape`.

    Args:
        shape: `(H, W, ...)` of the input (upright, as read).
        request: the size asked for.

    Returns:
        `OutputPlan`; its sides are at least the input's, at most `scale` times them.

    Raises:
        ValueError: a `width`/`height` that is not larger than the input (super-resolution
            enlarges), or that gives the other side below one pixel.

    Example:
        >>> plan_output((100, 60, 3), SizeRequest(outscale=2.5))
        OutputPlan(height=250, width=150, scale=3)
        >>> plan_output((100, 60, 3), SizeRequest(width=90))
        OutputPlan(height=150, width=90, scale=2)
    """
    height, width = int(shape[0]), int(shape[1])
    if request.scale is not None:
        return OutputPlan(request.scale * height, request.scale * width, request.scale)
    if request.outscale is not None:
        out = _round_half_up(request.outscale * height), _round_half_up(request.outscale * width)
        return OutputPlan(*out, math.ceil(request.outscale))
    out_height = request.height if request.height is not None else _round_half_up(height * request.width / width)
    out_width = request.width if request.width is not None else _round_half_up(width * request.height / height)
    if out_height < height or out_width < width or (out_height, out_width) == (height, width):
        raise ValueError(
            f"a {out_width}x{out_height} output is not larger than the {width}x{height} input; "
            "super-resolution enlarges, ask for more pixels"
        )
    return OutputPlan(out_height, out_width, max(2, math.ceil(max(out_height / height, out_width / width))))


def resize_to_plan(image: jax.Array, *, plan: OutputPlan) -> jax.Array:
    """The super-resolved `image` at the plan's size: as it is when it has that size, else
    MATLAB bicubic `imresize` (antialiased when shrinking), clipped to [0, 1].

    Args:
        image: `[s*H, s*W, C]` (or `[s*H, s*W]`) float in [0, 1], `s = plan.scale`.
        plan: from `plan_output`.

    Returns:
        `[plan.height, plan.width, C]` float32 in [0, 1].
    """
    if tuple(image.shape[:2]) == (plan.height, plan.width):
        return image
    return jnp.clip(imresize(image, output_shape=(plan.height, plan.width)), 0.0, 1.0)


def super_resolve_to_size(
    image: jax.Array,
    *,
    key: jax.Array,
    outscale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    **options,
) -> SuperResolution:
    """`super_resolve` to any output size: a real `outscale` > 1, or a `width` and/or `height`.

    Super-resolves at `plan_output(...).scale` (the next integer scale), then resizes
    with MATLAB bicubic to the size asked (module docstring).

    Args:
        image: `[H, W]` or `[H, W, C] float` in [0, 1], C in {1, 3}, sides >= 16.
        key: PRNG key, as for `super_resolve`.
        outscale: real factor > 1 (e.g. 1.5, 2.5, 3.3).
        width, height: output sides in pixels; one alone keeps the aspect ratio.
        **options: the other keyword arguments of `super_resolve` (`preset`, `method`,
            `kernel`, ...).

    Returns:
        `SuperResolution` whose `image` is `[height, width, C]` float32 in [0, 1]; its
        `kernel` and `drk` are those of the integer scale it ran at.

    Example:
        >>> import jax
        >>> lr = jax.random.uniform(jax.random.key(0), (24, 30, 3))
        >>> super_resolve_to_size(lr, key=jax.random.key(1), outscale=2.5).image.shape
        (60, 75, 3)
    """
    plan = plan_output(jnp.shape(image), SizeRequest(outscale=outscale, width=width, height=height))
    result = super_resolve(image, scale=plan.scale, key=key, **options)
    return result._replace(image=resize_to_plan(result.image, plan=plan))
