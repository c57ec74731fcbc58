"""Fitting the L-CNN to a kernel gallery with Deep Identity Learning.

One image's fit is `fit_inverse`: Adam with a step-decayed learning rate, run for
`epochs` passes over the image's kernel gallery in minibatches, the whole loop inside one
`lax.scan`. `fit_inverse_batch` is `jit(vmap(fit_inverse))` over many images' galleries:
every image keeps its own parameters, Adam state and step count, and the compiled program
depends only on the shapes, so a dataset compiles once per gallery shape.

Each step composes the L-CNN's impulse response from its filters
(`impulse_response.impulse_response`) and evaluates the identity loss as a quadratic form
of it (`identity_loss.target_loss`): the same loss and gradients as running the network
on every kernel's canvas (`identity_loss.dil_objective`, the paper's formulation, still
used for canvases too small to hold `K * DRK`), with about 250 times fewer multiply-adds.
The gallery's targets are computed once per fit (`gallery_targets`); `fit_targets` /
`fit_targets_batch` fit to precomputed targets (`gallery_targets`' or `dil.chain_target`'s).

optax and the flax L-CNN are imported on the first fit, not with the package: the
default preset never fits, and they are a quarter of the command line's start-up time.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

from issr_jax.dil.identity_loss import (
    IdentityTarget,
    LossWeights,
    centred_impulse,
    dil_objective,
    kernel_pinv,
    kernel_targets,
    target_loss,
)
from issr_jax.dil.impulse_response import impulse_response

if TYPE_CHECKING:
    import flax.linen as nn
    import optax

    from issr_jax.dil.lcnn import LCNN

__all__ = [
    "FitConfig",
    "FitResult",
    "KernelCanvas",
    "extract_drk",
    "fit_inverse",
    "fit_inverse_batch",
    "fit_targets",
    "fit_targets_batch",
    "gallery_targets",
    "learning_rate_schedule",
]


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Settings of the identity fit (hashable: it is a static argument of the jitted fit).

    Attributes:
        epochs: passes over the kernel gallery (paper: 50).
        batch_size: kernels per Adam step; must divide the gallery size.
        learning_rate: initial Adam step size (paper: 0.1).
        b1, b2: Adam's moment decays (paper: beta = 0.9; b2 is PyTorch's default).
        decay_every_epochs: the step scheduler's period, in epochs.
        decay_rate: factor applied to the learning rate every period.
        weights: regulariser weights (Eq. 7).
        depth, features, kernel_size: the L-CNN (paper: 5, 32, 3).
        init: `"lecun"` (flax's LeCun normal draw, the paper's) or `"identity"`
            (`lcnn.near_identity`: the draw times `init_noise` plus a unit centre tap).
        canvas_size: side of the canvas K is placed on; None means `k + drk_size - 1`, the
            smallest canvas that holds all of `K * DRK`. Any canvas at least that large
            gives the same loss; a smaller one cuts every layer's output at its border
            and is trained with the network on the canvas (the slow reference path).
        keep_best: return the parameters of the step with the lowest loss instead of the
            last step's. The loss compared is the step's minibatch loss, so this suits fits
            whose minibatch is the whole gallery (`batch_size` = gallery size). The paper
            keeps the last step; long fits of a deep linear network need the best one:
            once the loss has flattened, Adam's step (the gradient over its running RMS)
            stays at full size while the curvature does not shrink, and a late spike can
            throw a converged fit far off (seen on DIV2KRK `im_2`, `dil_chain` x2).
    """

    epochs: int = 50
    batch_size: int = 8
    learning_rate: float = 0.1
    b1: float = 0.9
    b2: float = 0.999
    decay_every_epochs: int = 20
    decay_rate: float = 0.1
    weights: LossWeights = LossWeights()
    depth: int = 5
    features: int = 32
    kernel_size: int = 3
    init: str = "lecun"
    init_noise: float = 0.1
    canvas_size: int | None = None
    keep_best: bool = False

    def __post_init__(self):
        if self.init not in ("lecun", "identity"):
            raise ValueError(f"FitConfig.init must be 'lecun' or 'identity', got {self.init!r}")

    @property
    def model(self) -> LCNN:
        from issr_jax.dil.lcnn import LCNN

        return LCNN(depth=self.depth, features=self.features, kernel_size=self.kernel_size)

    @property
    def drk_size(self) -> int:
        from issr_jax.dil.lcnn import impulse_response_size

        return impulse_response_size(depth=self.depth, kernel_size=self.kernel_size)

    def canvas_side(self, kernel_size: int) -> int:
        """The canvas a `kernel_size`-wide kernel is placed on (`canvas_size` or the default)."""
        return self.canvas_size or kernel_size + self.drk_size - 1


class FitResult(NamedTuple):
    """What a fit returns (a pytree: `vmap` gives every leaf a leading batch axis)."""

    params: Any  # L-CNN parameters
    drk: jax.Array  # [d, d] impulse response of the fitted L-CNN
    losses: jax.Array  # [steps] training loss per Adam step


def extract_drk(params, *, model: nn.Module, size: int) -> jax.Array:
    """The Deep Restoration Kernel by running the network on a centred impulse, `[size,
    size] float32` (size = its receptive field). By linearity `LCNN(x) = x (*) h` (true
    convolution) away from the borders, so `drk.apply_drk` with it is the network. The fit
    composes the same kernel from the filters instead (`impulse_response`)."""
    impulse = centred_impulse(size)[None, :, :, None]
    return model.apply({"params": params}, impulse)[0, :, :, 0]


def learning_rate_schedule(config: FitConfig, *, steps_per_epoch: int) -> optax.Schedule:
    """Step decay: the rate is multiplied by `decay_rate` every `decay_every_epochs` epochs."""
    import optax

    return optax.exponential_decay(
        init_value=config.learning_rate,
        transition_steps=config.decay_every_epochs * steps_per_epoch,
        decay_rate=config.decay_rate,
        staircase=True,
    )


class _Draws(NamedTuple):
    """A fit's random draws: initial parameters and the minibatch order (`[steps, batch]`)."""

    params: Any
    batches: jax.Array


def _draw(key: jax.Array, config: FitConfig, num_kernels: int) -> _Draws:
    """Initial weights and a fresh permutation of the gallery for every epoch."""
    if num_kernels % config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} must divide the gallery size {num_kernels}")
    init_key, shuffle_key = jax.random.split(key)
    epoch_keys = jax.random.split(shuffle_key, config.epochs)
    order = jax.vmap(lambda ek: jax.random.permutation(ek, num_kernels))(epoch_keys)
    params = config.model.init_params(init_key)
    if config.init == "identity":
        from issr_jax.dil.lcnn import near_identity

        params = near_identity(params, noise=config.init_noise)
    return _Draws(params, order.reshape(-1, config.batch_size))


def _draw_batch(keys: jax.Array, config: FitConfig, num_kernels: int) -> _Draws:
    """`_draw` for each key, one after the other (`lax.map`): the same numbers as `vmap`,
    but XLA:CPU compiles the random-number code once instead of batched, which took more
    than half of the batched fit's compile time (7 of 17 s for the initialisation)."""
    return jax.lax.map(lambda key: _draw(key, config, num_kernels), keys)


def _train(gallery, draws: _Draws, config: FitConfig, objective: Callable) -> FitResult:
    """Adam on `objective(params, minibatch)` over the minibatches of `gallery` (any pytree
    whose leaves share a leading axis N) in `draws.batches`, inside one `lax.scan`.

    Adam runs on the parameters raveled into one vector: the same elementwise update, but
    one fused pass over the state per step instead of several per layer.
    """
    import optax
    from jax.flatten_util import ravel_pytree

    steps_per_epoch = draws.batches.shape[0] // config.epochs
    schedule = learning_rate_schedule(config, steps_per_epoch=steps_per_epoch)
    optimizer = optax.adam(schedule, b1=config.b1, b2=config.b2)
    flat, unravel = ravel_pytree(draws.params)
    grad_fn = jax.value_and_grad(lambda vector, batch: objective(unravel(vector), batch), has_aux=True)

    def step(carry, batch_index):
        vector, opt_state, best = carry
        (loss, _), grads = grad_fn(vector, jax.tree.map(lambda leaf: leaf[batch_index], gallery))
        if config.keep_best:
            # `loss` is that of `vector`, before this step's update; a NaN is never best.
            best_vector, best_loss = best
            better = loss < best_loss
            best = (jnp.where(better, vector, best_vector), jnp.where(better, loss, best_loss))
        updates, opt_state = optimizer.update(grads, opt_state, vector)
        return (optax.apply_updates(vector, updates), opt_state, best), loss

    best = (flat, jnp.asarray(jnp.inf, flat.dtype)) if config.keep_best else ()
    (flat, _, best), losses = jax.lax.scan(step, (flat, optimizer.init(flat), best), draws.batches)
    params = unravel(best[0] if config.keep_best else flat)
    return FitResult(params=params, drk=impulse_response(params), losses=losses)


class KernelCanvas(NamedTuple):
    """What a fit on canvases smaller than `K * DRK` trains on (`gallery_targets`).

    Attributes:
        kernels: `[..., N, k, k] float32`, the gallery.
        pinv: `[..., N, k, k] float32`, `identity_loss.kernel_pinv` of it; None exactly
            when `k != d` (`L_pinv` undefined).
    """

    kernels: jax.Array
    pinv: jax.Array | None


def _targets_of(kernels: jax.Array, config: FitConfig) -> IdentityTarget | KernelCanvas:
    k, drk_size = kernels.shape[-1], config.drk_size
    canvas_size = config.canvas_side(k)
    if (canvas_size - k) % 2:
        raise ValueError(f"cannot centre a {k}-wide kernel on a {canvas_size}-wide canvas")
    if canvas_size >= k + drk_size - 1:  # all of K * DRK: the loss does not depend on the canvas
        return kernel_targets(kernels, drk_size=drk_size)
    return KernelCanvas(kernels, kernel_pinv(kernels, drk_size=drk_size))


@functools.partial(jax.jit, static_argnames="config")
def gallery_targets(kernels: jax.Array, *, config: FitConfig = FitConfig()) -> IdentityTarget | KernelCanvas:
    """What the paper's identity fit of a kernel gallery trains on, computed once.

    `identity_loss.kernel_targets` when the canvas (`config.canvas_size`) holds all of
    `K * DRK`; else the gallery and its pseudo-inverses, for the network on canvases.
    The fit's one piece of linear algebra (the SVD behind `pinv`) is here, so the
    multi-device path (`batch.chunks`) runs it on one device before splitting the fits:
    jaxlib 0.10's batched CPU LAPACK kernels split their batch over the thread pool that
    the CPU devices share and wait for it, and with every device inside one at once no
    thread is left to do the work (a deadlock seen with 4 CPU devices).

    Args:
        kernels: `[..., N, k, k] float32`, one gallery per leading index.
        config: fit settings (static): the DRK side and the canvas.

    Returns:
        `IdentityTarget` or `KernelCanvas` with leaves `[..., N, ...]`, for `fit_targets`.
    """
    kernels = jnp.asarray(kernels, jnp.float32)
    lead = kernels.shape[:-3]
    flat = kernels.reshape((-1, *kernels.shape[-3:]))
    targets = jax.vmap(lambda gallery: _targets_of(gallery, config))(flat)
    return jax.tree.map(lambda leaf: leaf.reshape(lead + leaf.shape[1:]), targets)


def _target_objective(params, targets: IdentityTarget, *, weights: LossWeights):
    return target_loss(impulse_response(params), targets, weights=weights)


def _train_on_targets(targets: IdentityTarget | KernelCanvas, draws: _Draws, config: FitConfig) -> FitResult:
    """The fit on `gallery_targets`' output or other `IdentityTarget`s (`[N, ...]` leaves)."""
    if isinstance(targets, IdentityTarget):
        return _train(targets, draws, config, functools.partial(_target_objective, weights=config.weights))
    objective = functools.partial(
        _canvas_objective,
        model=config.model,
        weights=config.weights,
        canvas_size=config.canvas_side(targets.kernels.shape[-1]),
        drk_size=config.drk_size,
    )
    return _train(targets, draws, config, objective)


def _canvas_objective(params, canvas: KernelCanvas, **settings):
    return dil_objective(params, canvas.kernels, pinv=canvas.pinv, **settings)


def _gallery_size(targets: IdentityTarget | KernelCanvas, config: FitConfig, *, batched: bool) -> int:
    """N, after checking that the targets are for the L-CNN's DRK side (and that a
    `KernelCanvas` carries its pseudo-inverses: computed in the fit, they would bring
    LAPACK back into the program `batch.chunks` splits over devices)."""
    d = config.drk_size
    if isinstance(targets, IdentityTarget) and targets.cross.shape[-1] != d:
        raise ValueError(f"targets are for a {targets.cross.shape[-1]}-wide DRK, the L-CNN's is {d}")
    if isinstance(targets, KernelCanvas):
        k = targets.kernels.shape[-1]
        if (targets.pinv is None) != (k != d) or (targets.pinv is not None and targets.pinv.shape[-1] != d):
            raise ValueError(f"KernelCanvas.pinv must be kernel_pinv(kernels, drk_size={d}) of its {k}-wide kernels")
    return jax.tree.leaves(targets)[0].shape[1 if batched else 0]


@functools.partial(jax.jit, static_argnames="config")
def fit_inverse(kernels: jax.Array, *, key: jax.Array, config: FitConfig = FitConfig()) -> FitResult:
    """Fits one L-CNN to one image's kernel gallery (`K * DRK = I`, Eq. 6-7).

    Args:
        kernels: `[N, k, k] float32` kernel gallery (N divisible by `config.batch_size`).
        key: PRNG key (initial weights and minibatch order).
        config: fit settings (static).

    Returns:
        `FitResult` with `params`, `drk` `[d, d]` and `losses` `[epochs * N / batch_size]`.
    """
    return fit_targets(gallery_targets(kernels, config=config), key=key, config=config)


@functools.partial(jax.jit, static_argnames="config")
def fit_inverse_batch(kernels: jax.Array, *, key: jax.Array, config: FitConfig = FitConfig()) -> FitResult:
    """`fit_inverse` over many images at once: `jit(vmap(...))`, one optimiser state each.

    Args:
        kernels: `[B, N, k, k] float32`, one gallery per image.
        key: `[B]` PRNG keys (e.g. `jax.random.split(key, B)`), one per image.
        config: fit settings (static), shared by all images.

    Returns:
        `FitResult` whose leaves have a leading axis B.
    """
    return fit_targets_batch(gallery_targets(kernels, config=config), key=key, config=config)


@functools.partial(jax.jit, static_argnames="config")
def fit_targets(
    targets: IdentityTarget | KernelCanvas, *, key: jax.Array, config: FitConfig = FitConfig()
) -> FitResult:
    """The identity fit on precomputed targets (`gallery_targets`, or others such as
    `dil.chain_target.chain_targets`).

    Args:
        targets: `IdentityTarget` or `KernelCanvas` with leaves `[N, ...]` (N divisible by
            `config.batch_size`; the DRK side must be `config.drk_size`).
        key: PRNG key (initial weights and minibatch order).
        config: fit settings (static).

    Returns:
        `FitResult` with `params`, `drk` `[d, d]` and `losses` `[epochs * N / batch_size]`.
    """
    size = _gallery_size(targets, config, batched=False)
    return _train_on_targets(targets, _draw(key, config, size), config)


@functools.partial(jax.jit, static_argnames="config")
def fit_targets_batch(
    targets: IdentityTarget | KernelCanvas, *, key: jax.Array, config: FitConfig = FitConfig()
) -> FitResult:
    """`fit_targets` over many images at once: `jit(vmap(...))`, one optimiser state each.

    Args:
        targets: `IdentityTarget` or `KernelCanvas` with leaves `[B, N, ...]`.
        key: `[B]` PRNG keys, one per image.
        config: fit settings (static), shared by all images.

    Returns:
        `FitResult` whose leaves have a leading axis B.
    """
    draws = _draw_batch(key, config, _gallery_size(targets, config, batched=True))
    return jax.vmap(lambda t, d: _train_on_targets(t, d, config))(targets, draws)
