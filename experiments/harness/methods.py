"""Method dispatch: a method spec (see `experiments/configs/common.py`) run on one sample
through the library's own stages, sharing what two methods would compute twice."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.harness.discovery import Sample
from issr_jax import pipeline
from issr_jax.degradation import as_degradation, estimate_degradation, mean_kernel
from issr_jax.presets import Preset, get_preset
from issr_jax.restoration import baselines

__all__ = ["KERNEL_SOURCES", "KINDS", "MethodOutput", "build_preset", "check_spec", "run_method"]

KINDS = ("bicubic", "issr", "wiener", "pinv")
KERNEL_SOURCES = ("estimated", "true")


def _apply_overrides(obj: Any, overrides: dict, where: str) -> Any:
    """`dataclasses.replace` applied recursively: nested dicts go into nested dataclasses."""
    changes = {}
    for key, value in overrides.items():
        if not hasattr(obj, key):
            raise ValueError(f"{where}: {type(obj).__name__} has no field {key!r}")
        current = getattr(obj, key)
        if isinstance(value, dict):
            if not dataclasses.is_dataclass(current):
                raise ValueError(f"{where}.{key} is not a nested settings object; give a value")
            value = _apply_overrides(current, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(obj, **changes)


def build_preset(spec: ml_collections.ConfigDict, name: str) -> Preset:
    """The spec's preset with its overrides applied (e.g. `fit.weights.pinv`)."""
    overrides = (
        spec.overrides.to_dict() if isinstance(spec.overrides, ml_collections.ConfigDict) else dict(spec.overrides)
    )
    preset = _apply_overrides(get_preset(spec.preset), overrides, f"method_specs.{name}.overrides")
    return preset.replace(name=name)


def check_spec(spec: ml_collections.ConfigDict, name: str) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"method_specs.{name}.kind must be one of {KINDS}, got {spec.kind!r}")
    if spec.kernel_source not in KERNEL_SOURCES:
        raise ValueError(
            f"method_specs.{name}.kernel_source must be one of {KERNEL_SOURCES}, got {spec.kernel_source!r}"
        )
    if spec.kind == "issr" and spec.method not in pipeline.METHODS:
        raise ValueError(f"method_specs.{name}.method must be one of {pipeline.METHODS}, got {spec.method!r}")
    if spec.kind == "issr" and spec.method == "lcnn" and not build_preset(spec, name).fits:
        raise ValueError(f"method_specs.{name}: method 'lcnn' needs a preset that trains the L-CNN")


class MethodOutput(NamedTuple):
    image: np.ndarray  # [sH, sW, 3] float32 in [0, 1], not yet quantised
    kernel: np.ndarray | None  # the K the restoration was designed for
    drk: np.ndarray | None  # the restoration kernel
    seconds: dict  # stage -> seconds
    shared: list  # stages reused from another method on the same image
    extra: dict  # anything else worth a JSON field


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = jax.block_until_ready(function())
    return value, time.perf_counter() - start


def _estimator_key(preset: Preset) -> tuple:
    return (
        preset.estimator,
        preset.kernel_size,
        preset.pixel_scale,
        tuple(preset.delta_range),
        preset.num_kernels,
        preset.blind,
    )


def run_method(
    spec: ml_collections.ConfigDict, name: str, sample: Sample, *, key: jax.Array, cache: dict
) -> MethodOutput | None:
    """Runs one method spec on one sample; None when it needs a true kernel there is not.

    `cache` is per image: kernel estimates and designed inverses are shared between the
    methods that would compute the same thing (same estimator settings, same preset up
    to its name and colour, same kernel source).
    """
    lr = jnp.asarray(sample.lr)
    scale = sample.scale
    if spec.kind == "bicubic":
        image, seconds = _timed(lambda: baselines.bicubic(lr, scale=scale))
        return MethodOutput(np.asarray(image), None, None, {"restore": seconds}, [], {})
    if spec.kernel_source == "true" and sample.kernel is None:
        return None
    preset = build_preset(spec, name)
    estimate_key, inverse_key = pipeline.stage_keys(key, preset=preset)
    seconds, shared = {}, []

    true_kernel = sample.kernel if spec.kernel_source == "true" else None
    if true_kernel is not None and not preset.models_noise:
        degradation = as_degradation(true_kernel)
    else:  # the blind estimator fits the image's prior and noise for a true kernel too
        cache_key = ("estimate", _estimator_key(preset), spec.kernel_source)
        if cache_key not in cache:
            cache[cache_key] = _timed(
                lambda: estimate_degradation(
                    sample.lr,
                    scale=scale,
                    key=estimate_key,
                    preset=preset,
                    kernel=true_kernel,
                    jpeg_table=sample.jpeg_table,
                )
            )
        else:
            shared.append("estimate")
        degradation, seconds["estimate"] = cache[cache_key]
    kernel = mean_kernel(degradation)

    if spec.kind in ("wiener", "pinv"):
        restore = baselines.wiener_restore if spec.kind == "wiener" else baselines.pinv_restore
        image, seconds["restore"] = _timed(lambda: restore(lr, scale=scale, kernel=kernel))
        drk = baselines.pinv_kernel(kernel) if spec.kind == "pinv" else None
        return MethodOutput(np.asarray(image), kernel, drk, seconds, shared, {})

    cache_key = ("inverse", dataclasses.replace(preset, name="", color="y"), spec.kernel_source)
    if cache_key not in cache:
        cache[cache_key] = _timed(
            lambda: pipeline.design_inverse(degradation, scale=scale, key=inverse_key, preset=preset)
        )
    else:
        shared.append("invert")
    inverse, seconds["invert"] = cache[cache_key]
    image, seconds["restore"] = _timed(
        lambda: pipeline.restore(lr, inverse, scale=scale, color=preset.color, method=spec.method, preset=preset)
    )
    extra = {}
    if inverse.fit is not None:
        losses = np.asarray(inverse.fit.losses)
        extra["fit_final_loss"] = float(losses[-1])
        extra["fit_loss_finite"] = bool(np.all(np.isfinite(losses)))
    return MethodOutput(np.asarray(image), kernel, np.asarray(inverse.drk), seconds, shared, extra)
