"""The public API's conventions (as dm_pix checks its own): image first, options
keyword-only, PRNG keys named `key`, and every public name documented."""

import inspect

import pytest

import issr_jax
from issr_jax import metrics
from issr_jax.restoration import baselines

IMAGE_FUNCTIONS = [
    issr_jax.super_resolve,
    issr_jax.super_resolve_to_size,
    issr_jax.imresize,
    issr_jax.apply_drk,
    issr_jax.rgb_to_y,
    issr_jax.estimate_degradation,
    issr_jax.paper_sigma,
    issr_jax.kernel_gallery,
    issr_jax.estimate_spectral_kernel,
    metrics.psnr,
    metrics.ssim,
    metrics.niqe,
]


def _public_functions():
    modules = [m for m in vars(issr_jax).values() if inspect.ismodule(m) and m.__name__.startswith("issr_jax.")]
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or (hasattr(obj, "__wrapped__") and callable(obj)):
                yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize("function", IMAGE_FUNCTIONS, ids=lambda f: f.__name__)
def test_image_first_then_keyword_only(function):
    params = list(inspect.signature(function).parameters.values())
    assert params[0].name == "image", f"{function.__name__}: first parameter is {params[0].name!r}"
    assert params[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)  # **options: more keywords
    extra = [p.name for p in params[1:] if p.kind not in keyword]
    # Two-array functions take both positionally: apply_drk (image, drk), metrics
    # (image, reference).
    assert extra in ([], ["drk"], ["reference"]), f"{function.__name__}: positional options {extra}"


def test_prng_keys_are_named_key():
    for name, function in _public_functions():
        for p, param in inspect.signature(function).parameters.items():
            if p == "seed" and "int" in str(param.annotation):
                continue  # an integer seed of a NumPy generator (demo_image), not a JAX key
            assert p not in ("rng", "prng", "seed", "random_key"), f"{name} names its key {p!r}"


def test_public_names_are_documented():
    missing = [name for name, function in _public_functions() if not inspect.getdoc(function)]
    assert not missing, f"undocumented: {missing}"


def test_top_level_all_resolves():
    for name in issr_jax.__all__:
        assert hasattr(issr_jax, name), name


def test_baselines_follow_the_convention():
    for name in getattr(baselines, "__all__", []):
        function = getattr(baselines, name)
        if callable(function):
            params = list(inspect.signature(function).parameters.values())
            assert params[0].name == "image"
            assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in params[1:]), name


def test_the_default_path_does_not_load_flax_or_optax():
    """They load with the identity fit only (a quarter of the command line's start-up)."""
    import subprocess
    import sys

    code = (
        "import sys, issr_jax, issr_jax.app.cli, issr_jax.app.runner; "
        "print(sorted({'flax', 'optax'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    assert issr_jax.LCNN.__module__ == "issr_jax.dil.lcnn"  # still there, on first use
