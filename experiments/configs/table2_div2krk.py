"""Paper Table 2 (DIV2KRK rows): bicubic, the paper preset (DRK and L-CNN), the default, fast and dil_chain presets.

    python -m experiments.run --config=experiments/configs/table2_div2krk.py --workdir=workdirs/table2_div2krk

The L-CNN rows run the 32-channel network over the whole upsampled Y plane (slow on CPU,
tens of seconds per image at x4); restrict with e.g. `--config.methods=bicubic,paper_drk,default_drk`.
The paper's DRK and L-CNN rows share one identity fit per image.
"""

from experiments.configs import common


def get_config():
    return common.base_config(
        title="Table 2: DIV2KRK, blind (kernel estimated from the LR image)",
        datasets="DIV2KRK",
        scales="2,4",
        specs=dict(
            bicubic=common.BICUBIC,
            paper_drk=common.PAPER_DRK,
            paper_lcnn=common.PAPER_LCNN,
            default_drk=common.DEFAULT_DRK,
            fast_drk=common.FAST_DRK,
            dil_chain_drk=common.DIL_CHAIN_DRK,
        ),
    )
