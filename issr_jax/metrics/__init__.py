"""Image quality: PSNR and SSIM against a reference (`fidelity`), and no-reference NIQE (`niqe`).

May import the core numerics (`issr_jax.color`, `issr_jax.resize`); never app/, batch/, io/.
"""

from issr_jax.metrics.fidelity import psnr, psnr_batch, ssim, ssim_batch
from issr_jax.metrics.niqe import NIQE_MODEL_ENV, load_niqe_model, niqe

__all__ = ["NIQE_MODEL_ENV", "load_niqe_model", "niqe", "psnr", "psnr_batch", "ssim", "ssim_batch"]
