"""Any output size (issr_jax.output_size): the plan, the resize, and the one-call API."""

import math

import jax
import numpy as np
import pytest

import issr_jax
from issr_jax.output_size import OutputPlan, SizeRequest, plan_output, resize_to_plan, super_resolve_to_size
from issr_jax.resize import imresize


@pytest.mark.parametrize(
    "shape, request_, plan",
    [
        ((100, 60), SizeRequest(scale=3), (300, 180, 3)),
        ((100, 60), SizeRequest(outscale=2.5), (250, 150, 3)),
        ((101, 33), SizeRequest(outscale=1.5), (152, 50, 2)),  # 151.5 -> 152, 49.5 -> 50: half up
        ((100, 60), SizeRequest(outscale=3.0), (300, 180, 3)),  # an integer outscale is that scale
        ((100, 60), SizeRequest(outscale=3.3), (330, 198, 4)),
        ((100, 60), SizeRequest(outscale=1.01), (101, 61, 2)),  # 60.6 -> 61
        ((100, 60), SizeRequest(width=90), (150, 90, 2)),  # the aspect ratio is kept
        ((100, 60), SizeRequest(height=250), (250, 150, 3)),
        ((100, 60), SizeRequest(width=61, height=401), (401, 61, 5)),  # both: exactly, ceil of the larger ratio
        ((100, 60), SizeRequest(width=60, height=101), (101, 60, 2)),  # one side may stay
        ((33, 47), SizeRequest(width=100), (70, 100, 3)),  # 70.2 -> 70
    ],
)
def test_plan_output(shape, request_, plan):
    assert plan_output((*shape, 3), request_) == OutputPlan(*plan)


@pytest.mark.parametrize("outscale", [1.01, 1.5, 2.0, 2.5, 3.3, 4.75, 7.999])
@pytest.mark.parametrize("shape", [(16, 16), (37, 101), (255, 17)])
def test_the_plan_only_ever_shrinks_the_super_resolved_image(outscale, shape):
    plan = plan_output(shape, SizeRequest(outscale=outscale))
    assert plan.scale == max(2, math.ceil(outscale))
    assert shape[0] <= plan.height <= plan.scale * shape[0] and shape[1] <= plan.width <= plan.scale * shape[1]
    assert abs(plan.height - outscale * shape[0]) <= 0.5 and abs(plan.width - outscale * shape[1]) <= 0.5


@pytest.mark.parametrize(
    "request_",
    [SizeRequest(width=50), SizeRequest(height=99), SizeRequest(width=60), SizeRequest(width=600, height=80)],
)
def test_a_size_not_larger_than_the_input_is_refused(request_):
    with pytest.raises(ValueError, match="not larger than the 60x100 input"):
        plan_output((100, 60, 3), request_)


@pytest.mark.parametrize(
    "fields, words",
    [
        ({}, "exactly one"),
        ({"scale": 2, "outscale": 2.5}, "exactly one"),
        ({"outscale": 2.5, "width": 100}, "exactly one"),
        ({"scale": 1}, "scale must be an integer >= 2"),
        ({"scale": 2.5}, "scale must be an integer >= 2"),
        ({"outscale": 1}, "outscale must be a finite number > 1"),
        ({"outscale": 0.5}, "outscale must be a finite number > 1"),
        ({"outscale": -2.0}, "outscale must be a finite number > 1"),
        ({"outscale": float("nan")}, "outscale must be a finite number > 1"),
        ({"outscale": float("inf")}, "outscale must be a finite number > 1"),
        ({"outscale": "2.5"}, "outscale must be a number"),
        ({"outscale": True}, "outscale must be a number"),
        ({"width": 0}, "width must be a positive integer"),
        ({"height": -5}, "height must be a positive integer"),
        ({"width": 100.0}, "width must be a positive integer"),
    ],
)
def test_bad_requests_say_what_is_wrong(fields, words):
    with pytest.raises(ValueError, match=words):
        SizeRequest(**fields)


def test_minimum_scale_is_known_before_the_input():
    assert SizeRequest(scale=4).minimum_scale() == 4
    assert SizeRequest(outscale=2.2).minimum_scale() == 3
    assert SizeRequest(width=10_000).minimum_scale() == 2


def test_resize_is_matlab_bicubic_and_clipped():
    image = jax.random.uniform(jax.random.key(0), (60, 45, 3))
    plan = OutputPlan(50, 38, 3)
    expected = np.clip(np.asarray(imresize(image, output_shape=(50, 38))), 0, 1)
    np.testing.assert_array_equal(np.asarray(resize_to_plan(image, plan=plan)), expected)
    assert resize_to_plan(image, plan=OutputPlan(60, 45, 3)) is image  # nothing to do


def _smooth_scene(shape, seed=0):
    """A band-limited RGB field: bicubic interpolation of it is nearly exact."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((shape[0] // 8 + 4, shape[1] // 8 + 4, 3)).astype(np.float32)
    return np.asarray(imresize(coarse, output_shape=(shape[0] + 32, shape[1] + 32)))[16:-16, 16:-16]


def test_super_resolve_to_size_shapes_and_geometry():
    lr = _smooth_scene((40, 52))
    key = jax.random.key(0)
    for kwargs, shape in (
        ({"outscale": 2.5}, (100, 130)),
        ({"width": 70}, (54, 70)),
        ({"height": 123}, (123, 160)),
        ({"width": 150, "height": 41}, (41, 150)),
    ):
        result = super_resolve_to_size(lr, key=key, **kwargs)
        assert result.image.shape == (*shape, 3), kwargs
        assert 0.0 <= float(result.image.min()) and float(result.image.max()) <= 1.0
        # On a smooth scene any upscaler agrees with bicubic: the non-integer geometry is
        # aligned (half a pixel off would cost far more than this).
        direct = np.asarray(imresize(lr, output_shape=shape))
        assert np.abs(np.asarray(result.image) - direct)[4:-4, 4:-4].mean() < 0.01, kwargs


def test_an_integer_outscale_is_that_scale_bit_for_bit():
    lr = _smooth_scene((32, 40))
    key = jax.random.key(3)
    by_outscale = super_resolve_to_size(lr, key=key, outscale=3.0)
    by_scale = issr_jax.super_resolve(lr, scale=3, key=key)
    np.testing.assert_array_equal(np.asarray(by_outscale.image), np.asarray(by_scale.image))
    np.testing.assert_array_equal(np.asarray(by_outscale.drk), np.asarray(by_scale.drk))


def test_a_non_integer_outscale_resizes_the_next_integer_scale():
    lr = _smooth_scene((32, 40))
    key = jax.random.key(3)
    result = super_resolve_to_size(lr, key=key, outscale=2.5, preset="default")
    x3 = issr_jax.super_resolve(lr, scale=3, key=key, preset="default")
    expected = np.clip(np.asarray(imresize(x3.image, output_shape=(80, 100))), 0, 1)
    np.testing.assert_array_equal(np.asarray(result.image), expected)
