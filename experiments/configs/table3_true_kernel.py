"""Paper Table 3 in spirit: what the inverse does with the TRUE kernel, and the Wiener
baseline fed our estimated kernel ("Our K + other restorer", the paper's case II).

    python -m experiments.run --config=experiments/configs/table3_true_kernel.py --workdir=workdirs/table3_true_kernel

The paper's Table 3 feeds KernelGAN/KMSR kernels to ISSR-DIL and its own K to ZSSR/USRNet;
none of those is available here. Instead: DIV2KRK's true kernels (an upper bound for any
kernel estimator) into the paper's identity fit and into the `fast` preset's LMMSE inverse,
and the `fast` preset's spectral estimate into a constant-NSR Wiener deconvolution (and the
true kernel too); the `paper` and `default` presets as they run, for comparison.
"""

from experiments.configs import common


def get_config():
    config = common.base_config(
        title="Table 3: DIV2KRK, true kernel vs estimated kernel",
        datasets="DIV2KRK",
        scales="2,4",
        specs=dict(
            bicubic=common.BICUBIC,
            paper_true_drk=common.spec("paper preset fit on the true K, DRK", preset="paper", kernel_source="true"),
            default_true_drk=common.spec("LMMSE inverse of the true K, DRK", preset="fast", kernel_source="true"),
            paper_drk=common.PAPER_DRK,
            default_drk=common.DEFAULT_DRK,
            wiener_estimated=common.spec("Wiener (NSR 1e-2) on our spectral K", kind="wiener", preset="fast"),
            wiener_true=common.spec("Wiener (NSR 1e-2) on the true K", kind="wiener", kernel_source="true"),
        ),
    )
    config.save_images = False
    return config
