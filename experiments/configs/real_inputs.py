"""Real inputs: the DIV2KRK LR images with noise or JPEG compression added (issue 10).

    python -m experiments.run --config=experiments/configs/real_inputs.py --workdir=workdirs/real_inputs

The degraded copies are built deterministically under the workdir the first time
(`experiments.harness.variants`): Gaussian noise of sigma 1, 2, 5, 10 (8-bit levels, per
RGB channel), signal-dependent noise (`sd`), and JPEG at qualities 95, 90, 75, 50. Every
gain is over bicubic of the *same* degraded input. The oracle row gives the default
preset the true kernel (its noise model, prior fit and denoising unchanged).
"""

from experiments.configs import common

VARIANTS = ("clean", "g1", "g2", "g5", "g10", "sd", "j95", "j90", "j75", "j50")


def get_config():
    config = common.base_config(
        title="Real inputs: DIV2KRK with noise and JPEG compression",
        datasets=",".join(f"DIV2KRK@{variant}" for variant in VARIANTS),
        scales="2,4",
        specs=dict(
            bicubic=common.BICUBIC,
            fast_drk=common.FAST_DRK,
            default_drk=common.DEFAULT_DRK,
            oracle_drk=common.ORACLE_DRK,
        ),
    )
    config.save_images = False
    config.figures = 0
    config.niqe = False
    return config
