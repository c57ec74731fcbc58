"""Fitting the L-CNN to a kernel gallery with Deep Identity Learning.

One image's fit is `fit_inverse`: Adam with a step-decayed learning rate, run for
`epochs` passes over the image's kernel gallery in minibatches, the whole loop inside one
`lax.scan`. `fit_inverse_batch` is `jit(vmap(fit_inverse))` over many images' galleries:
every image keeps its own parameters, Adam state and step count, and the compiled program
depends only on the shapes, so a dataset compiles once per gallery shape.

optax and the flax L-CNN are imported on the first fit, not with the package: the
default preset never fits, and they are a quarter of the command line's start-up time.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import jax

from issr_jax.dil.identity_loss import LossWeights, centred_impulse, dil_objective

if TYPE_CHECKING:
    import flax.linen as nn
    import optax

    from issr_jax.dil.lcnn import LCNN

__all__ = ["FitConfig", "FitResult", "extract_drk", "fit_inverse", "fit_inverse_batch", "learning_rate_schedule"]


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
        canvas_size: side of the canvas K is placed on; None means `k + drk_size - 1`, the
            smallest canvas that holds all of `K * DRK`.
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
    canvas_size: int | None = None

    @property
    def model(self) -> LCNN:
        from issr_jax.dil.lcnn import LCNN

        return LCNN(depth=self.depth, features=self.features, kernel_size=self.kernel_size)

    @property
    def drk_size(self) -> int:
        from issr_jax.dil.lcnn import impulse_response_size

        return impulse_response_size(depth=self.depth, kernel_size=self.kernel_size)


class FitResult(NamedTuple):
    """What a fit returns (a pytree: `vmap` gives every leaf a leading batch axis)."""

    params: Any  # L-CNN parameters
    drk: jax.Array  # [d, d] impulse response of the fitted L-CNN
    losses: jax.Array  # [steps] training loss per Adam step


def extract_drk(params, *, model: nn.Module, size: int) -> jax.Array:
    """The Deep Restoration Kernel: the network's impulse response, `[size, size] float32`
    (size = its receptive field). By linearity `LCNN(x) = x (*) h` (true convolution)
    away from the borders, so `drk.apply_drk` with it is the network."""
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


def _fit(kernels: jax.Array, key: jax.Array, config: FitConfig) -> FitResult:
    import optax

    num_kernels, k, _ = kernels.shape
    if num_kernels % config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} must divide the gallery size {num_kernels}")
    steps_per_epoch = num_kernels // config.batch_size
    drk_size = config.drk_size
    canvas_size = config.canvas_size or k + drk_size - 1
    model = config.model
    optimizer = optax.adam(learning_rate_schedule(config, steps_per_epoch=steps_per_epoch), b1=config.b1, b2=config.b2)

    init_key, shuffle_key = jax.random.split(key)
    params = model.init_params(init_key)
    opt_state = optimizer.init(params)
    objective = functools.partial(
        dil_objective, model=model, weights=config.weights, canvas_size=canvas_size, drk_size=drk_size
    )
    grad_fn = jax.value_and_grad(objective, has_aux=True)

    # Minibatch order: a fresh permutation of the gallery for every epoch.
    epoch_keys = jax.random.split(shuffle_key, config.epochs)
    order = jax.vmap(lambda ek: jax.random.permutation(ek, num_kernels))(epoch_keys)
    batches = order.reshape(config.epochs * steps_per_epoch, config.batch_size)

    def step(carry, batch_index):
        params, opt_state = carry
        (loss, _), grads = grad_fn(params, kernels[batch_index])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, opt_state), batches)
    return FitResult(params=params, drk=extract_drk(params, model=model, size=drk_size), losses=losses)


@functools.partial(jax.jit, static_argnames="config")
def fit_inverse(kernels: jax.Array, *, key: jax.Array, config: FitConfig = FitConfig()) -> FitResult:
    """Fits one L-CNN to one image's kernel gallery.

    Args:
        kernels: `[N, k, k] float32` kernel gallery (N divisible by `config.batch_size`).
        key: PRNG key (initial weights and minibatch order).
        config: fit settings (static).

    Returns:
        `FitResult` with `params`, `drk` `[d, d]` and `losses` `[epochs * N / batch_size]`.
    """
    return _fit(kernels, key, config)


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
    return jax.vmap(lambda g, k: _fit(g, k, config))(kernels, key)
