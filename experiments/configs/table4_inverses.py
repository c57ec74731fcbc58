"""Paper Table 4: restoration kernels compared: MP-Pinv, Wiener, the L-CNN, the DRK.

    python -m experiments.run --config=experiments/configs/table4_inverses.py --workdir=workdirs/table4_inverses

The paper fed KernelGAN's kernels to MP-Pinv and Wiener; KernelGAN is not available here,
so they get the kernel of the paper's own Eq. 5 estimate (the paper preset's gallery mean),
our spectral estimate, and the true kernel. Outputs are clipped to [0, 1] like every
method's (the paper's -195 dB PSNR is of an unclipped MP-Pinv output).
"""

from experiments.configs import common


def get_config():
    config = common.base_config(
        title="Table 4: DIV2KRK, inverse designs (MP-Pinv, Wiener, L-CNN, DRK)",
        datasets="DIV2KRK",
        scales="2,4",
        specs=dict(
            bicubic=common.BICUBIC,
            pinv_paper_k=common.spec("MP-Pinv of the paper's Eq. 5 K", kind="pinv", preset="paper"),
            pinv_true_k=common.spec("MP-Pinv of the true K", kind="pinv", kernel_source="true"),
            wiener_paper_k=common.spec("Wiener (NSR 1e-2) on the paper's Eq. 5 K", kind="wiener", preset="paper"),
            wiener_spectral_k=common.spec("Wiener (NSR 1e-2) on our spectral K", kind="wiener", preset="fast"),
            wiener_true_k=common.spec("Wiener (NSR 1e-2) on the true K", kind="wiener", kernel_source="true"),
            paper_lcnn=common.PAPER_LCNN,
            paper_drk=common.PAPER_DRK,
            default_drk=common.DEFAULT_DRK,
        ),
    )
    config.save_images = False
    return config
