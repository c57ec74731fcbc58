"""Set5, Set14, BSD100 and DIV2K crops at x2, x3, x4: bicubic vs the default, fast and paper presets.

`DIV2KRK@bicubic` is the 480-pixel centre crop of each DIV2KRK HR image, shrunk by MATLAB
bicubic (`experiments.harness.variants`, built in the workdir).

    python -m experiments.run --config=experiments/configs/bicubic_sets.py --workdir=workdirs/bicubic_sets

These LR images are MATLAB bicubic downscalings of the HR, so the "kernel" is the
antialiasing bicubic filter itself, not a Gaussian: `fast` and `paper` assume a Gaussian
blur (and over-sharpen), `default` weighs a Gaussian against a resampler's kernel. Bicubic
upsampling is close to the matched inverse already. There are no true kernels.

The paper preset (about 5 s per image for its identity fit on this 2-core CPU) runs on the
first 20 images of each set only (all of Set5 and Set14; BSD100's first 20 by name).
"""

from experiments.configs import common


def get_config():
    config = common.base_config(
        title="Bicubic-degraded sets (Set5, Set14, BSD100, DIV2K crops)",
        datasets="Set5,Set14,BSD100,DIV2KRK@bicubic",
        scales="2,3,4",
        specs=dict(
            bicubic=common.BICUBIC,
            default_drk=common.DEFAULT_DRK,
            fast_drk=common.FAST_DRK,
            paper_drk=common.spec(
                "ISSR-DIL paper preset, DRK (first 20 images per set)", preset="paper", max_images=20
            ),
        ),
    )
    config.save_images = False
    config.figures = 1
    return config
