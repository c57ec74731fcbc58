"""Super-resolving many images at once: batched stages, bounded compiles, every device.

`pipeline.super_resolve` runs one image through the three stages, compiling each stage
for its shape; this module runs each stage over a *chunk* of images at once:

1. estimate (`degradation.estimate_degradations`): the spectral and blind estimates need
   only each image's Welch tiles (and, for the noise level, a sample of its patches),
   gathered in NumPy; images with the same tile side and tile count (a power of two)
   are estimated in one batched call, on one device. The paper's Eq. 5 gallery is cheap
   and is drawn per image.
2. invert (`design_chunk`): the chunk's inverses are designed in batched calls of one
   fixed size (`pipeline.design_inverse_batch`), so one compile per run.
3. restore (`restore_chunk`): images are placed on bucket canvases
   (`batch.canvases.make_canvas`) and restored a mesh's worth at a time; outputs above
   `batch.tiles.TILE_THRESHOLD_PIXELS` go through overlapping tiles
   (`batch.tiles.restore_tiled`).

Compiles are bounded by the number of restore buckets (four sides per octave) and Welch
tile shapes, not by the number of distinct image sizes. Restores are split over all
local devices with a 1-D "batch" mesh (`batch.mesh.batch_mesh`); several hosts each
take `batch.mesh.shard_files(...)` of the file list.

Every image uses the same `key` (as `app.runner.super_resolve_folder`), split once by
`pipeline.stage_keys`, so an image's result does not depend on the other images or on
the chunk it falls in, and equals `pipeline.super_resolve(image, key=key)` to float
rounding (~1e-6: batched programs vectorise differently).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from issr_jax.batch import canvases, tiles
from issr_jax.batch.mesh import AXIS, batch_mesh
from issr_jax.degradation import Degradation, checked_noise, estimate_degradations, mean_kernel
from issr_jax.pipeline import (
    Inverse,
    SuperResolution,
    checked_image,
    checked_preset,
    design_gallery,
    design_inverse_batch,
    fit_gallery,
    fit_gallery_batch,
    restore,
    stage_keys,
)
from issr_jax.presets import Preset

__all__ = [
    "CHUNK_SIZE",
    "ChunkResult",
    "chunks",
    "design_chunk",
    "restore_chunk",
    "super_resolve_chunk",
    "super_resolve_dataset",
]

CHUNK_SIZE = 64  # images per chunk: bounds the LR images, kernels and pending outputs held
FIRST_CHUNK_SIZE = 8  # a smaller first chunk: outputs start to be written sooner
CHUNK_PIXELS = 16_000_000  # ... and the LR pixels of one chunk (about 200 MB as float32 RGB)
INVERT_BATCH = 8  # LMMSE inverses per call (x4: ~4 MB each); the last call is padded
# Identity fits per device per call: fixed, so results do not depend on the device count.
# 64 paper fits took 6.0 s in calls of 2, 3.0 s in calls of 8 and 3.8 s in calls of 32.
FIT_BATCH = 8


def chunks(
    sizes: Sequence[int],
    *,
    chunk_size: int = CHUNK_SIZE,
    chunk_pixels: int = CHUNK_PIXELS,
    first_size: int = FIRST_CHUNK_SIZE,
) -> list[range]:
    """Consecutive index ranges of at most `chunk_size` items and `chunk_pixels` pixels
    (an item larger than `chunk_pixels` gets a chunk of its own); the first range holds
    at most `first_size` items, so that the first outputs (and their writing, which
    overlaps the computation) start early."""
    result, start, pixels = [], 0, 0
    for i, size in enumerate(sizes):
        limit = min(chunk_size, first_size) if not result else chunk_size
        if i > start and (i - start >= limit or pixels + size > chunk_pixels):
            result.append(range(start, i))
            start, pixels = i, 0
        pixels += size
    if start < len(sizes):
        result.append(range(start, len(sizes)))
    return result


# --------------------------------------------------------------------------------- invert


@functools.cache
def _sharded_fit(mesh, preset: Preset):
    """The identity fits of a batch, each device fitting its own images (`shard_map`).

    A jit with sharded inputs instead leaves the partitioning of the 5-layer fit loop to
    XLA, which on a 4-device CPU mesh ran for minutes. `check_vma=False`: with the check
    on, parameters initialised inside the function count as device-invariant and their
    gradients get summed over devices, coupling the images' fits.
    """
    spec = PartitionSpec(AXIS)
    fit = lambda gallery, keys: fit_gallery_batch(gallery, keys=keys, preset=preset)
    return jax.jit(jax.shard_map(fit, mesh=mesh, in_specs=(spec, spec), out_specs=spec, check_vma=False))


def design_chunk(degradations: Sequence[Degradation], *, scale: int, key: jax.Array, preset: Preset, mesh) -> Inverse:
    """Stage 2 for a chunk, in batched calls (`pipeline.design_inverse_batch` and, for
    the identity fits, its two halves `pipeline.fit_gallery` and `fit_gallery_batch`).

    Each call designs `INVERT_BATCH` closed-form inverses (the last call padded: one
    compiled shape per run; on this CPU a call of 8 costs as much per inverse as one of
    32), or `FIT_BATCH` identity fits per device (the batch split over the mesh), padded
    by repeating the last gallery, so memory stays bounded whatever the chunk size.

    Args:
        degradations: from stage 1 (the same N and k for all).
        scale: integer SR factor.
        key: the inversion key (`pipeline.stage_keys`), shared by all.
        preset: `preset.inverse` picks the identity fit or the closed form.
        mesh: from `batch.mesh.batch_mesh` (the identity fits are split over it).

    Returns:
        `Inverse` with NumPy leaves of leading axis `len(galleries)`.
    """
    count = len(degradations)
    step = FIT_BATCH * mesh.size if preset.fits else INVERT_BATCH
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    parts = []
    for start in range(0, count, step):
        members = [degradations[min(i, count - 1)] for i in range(start, start + step)]
        stacked = jax.tree.map(lambda *leaves: np.stack(leaves), *members)
        if preset.fits:
            keys = jax.device_put(jnp.stack([key] * step), sharding)
            kernels = design_gallery(np.asarray(stacked.kernels, np.float32), preset=preset)
            gallery = jax.device_put(fit_gallery(kernels, scale=scale, preset=preset), sharding)
            inverse = _sharded_fit(mesh, preset)(gallery, keys)
        else:  # closed form, solved in float64; no key
            inverse = design_inverse_batch(stacked, scale=scale, keys=None, preset=preset)
        parts.append(jax.tree.map(np.asarray, inverse))
    return jax.tree.map(lambda *leaves: np.concatenate(leaves)[:count], *parts)


# -------------------------------------------------------------------------------- restore


def restore_chunk(
    images: Sequence[np.ndarray],
    drks: Sequence[np.ndarray],
    *,
    scale: int,
    color: str,
    mesh,
    on_result: Callable[[int, np.ndarray], None],
    denoise: Sequence[float] | None = None,
    tile_threshold: int = tiles.TILE_THRESHOLD_PIXELS,
) -> None:
    """Stage 3 (method "drk") for a chunk, bucketed, a mesh's worth per call.

    Calls `on_result(i, [s H_i, s W_i, C_i] float32)` as each image is done (so the
    caller can write it and let it go), bucket by bucket; `denoise`: None, or per image the
    luma noise removed first (`pipeline.Inverse.denoise`)."""
    groups: dict[tuple, list[int]] = {}
    denoising = denoise is not None  # then large outputs are tiled sooner (the denoiser's memory)
    tile_threshold = min(tile_threshold, tiles.DENOISE_TILE_THRESHOLD_PIXELS) if denoising else tile_threshold
    for i, (image, drk) in enumerate(zip(images, drks)):
        h, w, c = image.shape
        sigma = denoise[i] if denoising else None
        if tiles.needs_tiles(h, w, scale=scale, threshold=tile_threshold):
            on_result(i, tiles.restore_tiled(image, drk, scale=scale, color=color, mesh=mesh, denoise=sigma))
            continue
        bucket = canvases.canvas_shape(h, w, scale=scale, drk_size=drk.shape[0], denoise=denoising)
        groups.setdefault((bucket, c, drk.shape[0]), []).append(i)
    for (bucket, _, drk_size), members in groups.items():
        for start in range(0, len(members), mesh.size):
            batch = members[start : start + mesh.size]
            placed = [
                canvases.make_canvas(images[i], scale=scale, drk_size=drk_size, shape=bucket, denoise=denoising)
                for i in batch
            ]
            outs = canvases.restore_canvases(
                placed,
                [drks[i] for i in batch],
                scale=scale,
                color=color,
                mesh=mesh,
                denoise=[denoise[i] for i in batch] if denoising else None,
            )
            for i, out in zip(batch, outs):
                on_result(i, out)


# ---------------------------------------------------------------------------- the chunk


def _supplied_kernels(kernel, count: int) -> np.ndarray | None:
    """None, one `[k, k]` kernel, or `[count, k, k]` (one per image), as float32 NumPy."""
    if kernel is None:
        return None
    try:
        kernel = np.asarray(kernel, np.float32)
    except ValueError:
        raise ValueError("per-image kernels must all have the same shape") from None
    if kernel.ndim not in (2, 3) or (kernel.ndim == 3 and len(kernel) != count):
        raise ValueError(f"kernel must be [k, k] or one [k, k] per image ({count}), got shape {kernel.shape}")
    return kernel


@dataclasses.dataclass
class ChunkResult:
    """What `super_resolve_chunk` produced for one image: a result or the error."""

    index: int
    result: SuperResolution | None = None
    error: Exception | None = None


def super_resolve_chunk(
    images: Sequence[np.ndarray | None],
    *,
    scale: int,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: np.ndarray | None = None,
    noise: float | None = None,
    jpeg_tables: Sequence[np.ndarray | None] | None = None,
    mesh=None,
    on_result: Callable[[ChunkResult], None],
    timings: dict | None = None,
    tile_threshold: int = tiles.TILE_THRESHOLD_PIXELS,
) -> None:
    """Runs the three stages over a chunk of images, each stage batched.

    Args:
        images: `[H, W, C] float32` in [0, 1] (or None for an entry to leave out).
        scale, key, preset, method: as in `pipeline.super_resolve`; every image uses `key`.
        kernel: None (estimate each image's), one `[k, k]` kernel for every image, or a
            sequence of `[k, k]` kernels (same k), one per entry of `images`.
        noise: as in `pipeline.super_resolve`, the same for every image.
        jpeg_tables: None, or per entry of `images` None or the luma quantisation table
            of the JPEG it was decoded from (`pipeline.super_resolve`'s `jpeg_table`).
        mesh: from `batch.mesh.batch_mesh` (default: all local devices).
        on_result: called once per (non-None) image with a `ChunkResult`, as soon as that
            image is restored; an image the pipeline rejects gets its error instead, and the
            others go on.
        timings: optional dict; seconds of "estimate", "invert", "restore" are added to it.
    """
    preset = checked_preset(preset, method=method)
    noise = checked_noise(noise, preset=preset)
    kernel = _supplied_kernels(kernel, len(images))
    per_image = kernel is not None and kernel.ndim == 3
    mesh = mesh or batch_mesh()
    timings = {} if timings is None else timings
    ready = []
    for i, image in enumerate(images):
        if image is None:
            continue
        try:
            ready.append((i, checked_image(np.asarray(image), scale=scale)))
        except (ValueError, TypeError) as error:
            on_result(ChunkResult(i, error=error))
    if not ready:
        return
    estimate_key, inverse_key = stage_keys(key, preset=preset)
    pixels = [image for _, image in ready]

    start = time.perf_counter()
    # One supplied kernel and no noise model: one degradation, one inverse for every image.
    shared = kernel is not None and not per_image and not preset.models_noise
    if kernel is None:
        known = None
    elif per_image:
        known = [kernel[i] for i, _ in ready]
    else:
        known = [kernel] * (1 if shared else len(ready))
    estimate_images = pixels[:1] if shared else pixels
    tables = None if jpeg_tables is None or shared else [jpeg_tables[i] for i, _ in ready]
    options = dict(scale=scale, key=estimate_key, preset=preset, noise=noise, kernels=known, jpeg_tables=tables)
    degradations = estimate_degradations(estimate_images, **options)
    timings["estimate"] = timings.get("estimate", 0.0) + time.perf_counter() - start

    start = time.perf_counter()
    inverses = design_chunk(degradations, scale=scale, key=inverse_key, preset=preset, mesh=mesh)
    drks = np.asarray(inverses.drk, np.float32)
    pick = (lambda j: 0) if shared else (lambda j: j)
    denoise = [float(np.asarray(inverses.denoise)[pick(j)]) for j in range(len(pixels))] if preset.denoise else None
    timings["invert"] = timings.get("invert", 0.0) + time.perf_counter() - start

    def deliver(j: int, out: np.ndarray) -> None:
        fit = None if inverses.fit is None else jax.tree.map(lambda leaf: leaf[pick(j)], inverses.fit)
        degradation = degradations[pick(j)]
        result = SuperResolution(out, mean_kernel(degradation), drks[pick(j)], fit, degradation)
        on_result(ChunkResult(ready[j][0], result=result))

    start = time.perf_counter()
    if method == "drk":
        restore_chunk(
            pixels,
            [drks[pick(j)] for j in range(len(pixels))],
            scale=scale,
            color=preset.color,
            mesh=mesh,
            on_result=deliver,
            denoise=denoise,
            tile_threshold=tile_threshold,
        )
    else:  # running the L-CNN itself: per image, at its own shape
        for j, image in enumerate(pixels):
            inverse = jax.tree.map(lambda leaf, j=j: leaf[pick(j)], inverses)
            try:
                out = restore(
                    jax.device_put(image), inverse, scale=scale, color=preset.color, method=method, preset=preset
                )
            except ValueError as error:  # too large to run the network on
                on_result(ChunkResult(ready[j][0], error=error))
                continue
            deliver(j, np.asarray(out))
    timings["restore"] = timings.get("restore", 0.0) + time.perf_counter() - start


def super_resolve_dataset(
    images: Sequence[np.ndarray],
    *,
    scale: int,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: np.ndarray | None = None,
    noise: float | None = None,
    chunk_size: int = CHUNK_SIZE,
    mesh=None,
) -> list[SuperResolution]:
    """Super-resolves a list of images chunk by chunk, every stage batched and sharded.

    Args:
        images: `[H_i, W_i, C_i] float` in [0, 1], sizes may differ, sides >= 16.
        scale: integer factor >= 2.
        key: PRNG key used for *every* image (as a folder run does), so image `i`'s result
            equals `pipeline.super_resolve(images[i], key=key)` to float rounding.
        preset, method: as in `pipeline.super_resolve`.
        kernel: None (estimate each image's), one `[k, k]` kernel for all, or one per image.
        noise: as in `pipeline.super_resolve` (None: measured per image), the same for all.
        chunk_size: images per chunk (memory bound).
        mesh: from `batch.mesh.batch_mesh` (default: all local devices).

    Returns:
        list of `SuperResolution` (the image as `[s H, s W, C] float32` NumPy), in order.

    Raises:
        ValueError, TypeError: an image the pipeline rejects (its index in the message).

    Example:
        >>> import jax, numpy as np
        >>> lrs = [np.random.default_rng(0).random((24, 32, 3), np.float32)] * 2
        >>> [r.image.shape for r in super_resolve_dataset(lrs, scale=2, key=jax.random.key(0))]
        [(48, 64, 3), (48, 64, 3)]
    """
    images = [np.asarray(image, np.float32) for image in images]
    images = [image[..., None] if image.ndim == 2 else image for image in images]
    kernel = _supplied_kernels(kernel, len(images))
    per_image = kernel is not None and kernel.ndim == 3
    results: list[SuperResolution | None] = [None] * len(images)

    def collect(item: ChunkResult) -> None:
        if item.error is not None:
            raise type(item.error)(f"image {item.index}: {item.error}")
        results[item.index] = item.result

    sizes = [image.shape[0] * image.shape[1] for image in images]
    for part in chunks(sizes, chunk_size=chunk_size):
        chunk_images = [images[i] for i in part]
        offset = part.start

        def shifted(item: ChunkResult, offset: int = offset) -> None:
            collect(dataclasses.replace(item, index=item.index + offset))

        chunk_kernel = kernel[part.start : part.stop] if per_image else kernel
        super_resolve_chunk(
            chunk_images,
            scale=scale,
            key=key,
            preset=preset,
            method=method,
            kernel=chunk_kernel,
            noise=noise,
            mesh=mesh,
            on_result=shifted,
        )
    return results
