"""Named settings of the whole method: `paper` (the text as written), `default` (blind
super-resolution of real inputs: noise, JPEG, unknown blur), `fast` (the linear design
alone, for clean inputs) and `dil_chain` (the paper's identity learning applied to the
whole degradation chain).

Every point the paper leaves open is a field here, and the `paper` preset holds the most
literal reading of Sections 3 and 4.1 (see `docs/paper-choices.md` for the reasoning and
what each choice measurably does).
"""

from __future__ import annotations

import dataclasses

from issr_jax.dil.fit import FitConfig
from issr_jax.dil.identity_loss import LossWeights
from issr_jax.kernels.blind import BlindSettings

__all__ = ["FITTED_INVERSES", "Preset", "PRESETS", "get_preset"]

ESTIMATORS = ("paper", "spectral", "blind")
INVERSES = ("dil", "dil_chain", "lmmse")
FITTED_INVERSES = ("dil", "dil_chain")  # the inverses that train the L-CNN
COLORS = ("y", "rgb")


@dataclasses.dataclass(frozen=True)
class Preset:
    """Everything that decides how one image is super-resolved.

    Attributes:
        name: the preset's name.
        estimator: how K is obtained from the LR image: `"paper"` (a gallery of Gaussians
            from Eq. 5, `kernels.kernel_gallery`) or `"spectral"` (one Gaussian fitted to
            the LR spectrum, `kernels.spectral`) or `"blind"` (the image's noise level,
            `noise.estimate`, and weighted explanations of its blur, `kernels.blind`).
        inverse: how the DRK is obtained from K: `"dil"` (the paper's L-CNN trained with
            Deep Identity Learning, `fit.fit_inverse`), `"dil_chain"` (the same L-CNN
            trained on the identity of blur + sampling + bicubic under the natural-image
            prior, `dil.chain_target`) or `"lmmse"` (that identity's closed form,
            `restoration.lmmse`).
        kernel_size: side of the paper estimator's K (paper: 11, for every scale).
        pixel_scale: unit of pixel values in Eq. 5 (255: values in [0, 255]).
        delta_range: range of the uniform perturbation delta_sigma in Eq. 5 (DIV2KRK: [1, 3]).
        num_kernels: kernels in the per-image gallery (one "epoch" is one pass over it).
        fit: the identity fit (optimiser, schedule, loss weights, L-CNN shape, canvas).
        color: `"rgb"` restores each channel; `"y"` restores the BT.601 luma and keeps the
            bicubic chroma.
        blind: settings of the `"blind"` estimator.
        model_floor: the closed form's white floor for what the image model leaves out,
            relative to the prior's level (1e-2: 26 dB below it at HR Nyquist).
        denoise: stage 3 removes the estimated noise from the LR image before upsampling
            (`restoration.denoise`); needs the `"blind"` estimator.
        denoise_residual: the part of the noise's standard deviation the closed form
            still designs for after denoising (the denoiser leaves some, correlated).
    """

    name: str
    estimator: str = "paper"
    inverse: str = "dil"
    kernel_size: int = 11
    pixel_scale: float = 255.0
    delta_range: tuple[float, float] = (1.0, 3.0)
    num_kernels: int = 32
    fit: FitConfig = FitConfig()
    color: str = "y"
    blind: BlindSettings = BlindSettings()
    model_floor: float = 1e-2
    denoise: bool = False
    denoise_residual: float = 0.3

    def __post_init__(self):
        for field, allowed in (("estimator", ESTIMATORS), ("inverse", INVERSES), ("color", COLORS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"Preset.{field} must be one of {allowed}, got {getattr(self, field)!r}")
        if self.denoise and self.estimator != "blind":
            raise ValueError(f"Preset.denoise needs the 'blind' estimator (the noise level), got {self.estimator!r}")

    @property
    def models_noise(self) -> bool:
        """Whether the preset measures (or takes) the image's noise level."""
        return self.estimator == "blind"

    @property
    def fits(self) -> bool:
        """Whether stage 2 trains the L-CNN (and so needs a key and a gallery)."""
        return self.inverse in FITTED_INVERSES

    def replace(self, **changes) -> Preset:
        return dataclasses.replace(self, **changes)


# The paper as written (Sections 3 and 4.1), with its one failing setting changed: Adam
# at the paper's learning rate 0.1 diverges on this 5-layer linear network (the DRK's sum
# runs into the hundreds and PSNR falls below 10 dB), so `paper` uses 0.01, the largest
# power of ten that converges; `paper_literal` keeps 0.1. See docs/paper-choices.md.
PAPER_LITERAL = Preset(
    name="paper_literal",
    estimator="paper",
    inverse="dil",
    kernel_size=11,
    pixel_scale=255.0,
    delta_range=(1.0, 3.0),
    num_kernels=32,
    fit=FitConfig(
        epochs=50,
        batch_size=8,
        learning_rate=0.1,
        b1=0.9,
        decay_every_epochs=20,
        decay_rate=0.1,
        weights=LossWeights(pinv=0.1, unity=0.7, range_scale=0.1),
    ),
    color="y",
)

PAPER = PAPER_LITERAL.replace(name="paper", fit=dataclasses.replace(PAPER_LITERAL.fit, learning_rate=0.01))

# Beyond the paper: a Gaussian fitted to the LR spectrum under a power-law image prior,
# and the exact least-squares inverse of the whole degradation chain. RESULTS.md has the
# ablation of what each change buys. Best on clean, Gaussian-blurred inputs; noise,
# JPEG and software downscaling fool it (it over-sharpens them).
FAST = Preset(name="fast", estimator="spectral", inverse="lmmse", color="y")

# Real inputs: the noise level measured, the blur explained by a Gaussian and by a
# resampler's antialiasing with weights from how well each fits, the closed form for
# that mixture, and the LR denoised before it is restored. RESULTS.md measures it on
# noise, JPEG and bicubic-downscaled photographs.
DEFAULT = Preset(name="default", estimator="blind", inverse="lmmse", color="y", denoise=True)

# Deep Identity Learning of the whole chain: the `fast` preset's spectral estimate, and
# the L-CNN trained with Adam and step decay on the expected error of blur + sampling +
# bicubic under the natural-image prior, whose minimiser is the `fast` closed form.
# The chain's normal equations span seven decades, so the L-CNN needs a 31x31 support (15
# layers: the paper's 11x11 costs the closed form 0.2 dB at x2, 0.4 dB at x4), a start
# near the identity, a small learning rate (1e-3 diverged on one DIV2KRK image at x2)
# and 6000 steps (one per epoch: the gallery is the one estimate, eight times), returning
# the step with the lowest loss (a late Adam spike threw one image's converged fit off by
# 4 dB); no regularisers (L_pinv compares with K, L_unity and L_rs would move the minimiser).
# RESULTS.md has the gap to the closed form against the steps.
DIL_CHAIN = Preset(
    name="dil_chain",
    estimator="spectral",
    inverse="dil_chain",
    num_kernels=8,
    fit=FitConfig(
        epochs=6000,
        batch_size=8,
        learning_rate=5e-4,
        decay_every_epochs=3000,
        decay_rate=0.1,
        weights=LossWeights(pinv=0.0, unity=0.0, range_scale=0.0),
        depth=15,
        init="identity",
        init_noise=0.1,
        keep_best=True,
    ),
    color="y",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (DEFAULT, FAST, PAPER, PAPER_LITERAL, DIL_CHAIN)}


def get_preset(name_or_preset: str | Preset) -> Preset:
    """Looks a preset up by name (a `Preset` passes through)."""
    if isinstance(name_or_preset, Preset):
        return name_or_preset
    try:
        return PRESETS[name_or_preset]
    except KeyError:
        raise ValueError(f"unknown preset {name_or_preset!r}; choose one of {sorted(PRESETS)}") from None
