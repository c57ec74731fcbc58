"""What each change of the default preset buys, on DIV2KRK x2 and x4.

    python -m experiments.run --config=experiments/configs/ablation_default.py --workdir=workdirs/ablation_default

Estimator x inverse: the paper's Eq. 5 gallery or the spectral estimate, fed to the
paper's identity fit (DIL, lr 0.01), to the same L-CNN trained on the identity of the
whole chain (`dil_chain`) or to that identity's closed form (LMMSE); then the true
kernel with LMMSE (the ceiling of a perfect estimator), and colour Y vs RGB for the default.
"""

from experiments.configs import common


def get_config():
    config = common.base_config(
        title="Ablation of the default preset (DIV2KRK)",
        datasets="DIV2KRK",
        scales="2,4",
        specs=dict(
            bicubic=common.BICUBIC,
            paper_k_paper_dil=common.spec("Eq. 5 K + DIL (= paper preset)", preset="paper"),
            spectral_k_paper_dil=common.spec("spectral K + DIL", preset="paper", overrides=dict(estimator="spectral")),
            paper_k_lmmse=common.spec("Eq. 5 K + LMMSE", preset="fast", overrides=dict(estimator="paper")),
            spectral_k_lmmse=common.spec("spectral K + LMMSE (= fast preset)", preset="fast"),
            spectral_k_chain_dil=common.spec("spectral K + DIL of the chain (= dil_chain preset)", preset="dil_chain"),
            true_k_lmmse=common.spec("true K + LMMSE", preset="fast", kernel_source="true"),
            default_rgb=common.spec("fast preset, colour rgb", preset="fast", overrides=dict(color="rgb")),
        ),
    )
    config.save_images = False
    return config
