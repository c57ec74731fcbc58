"""Paper Table 5: the regularisers of Eq. 7, switched on one subset at a time (paper preset).

    python -m experiments.run --config=experiments/configs/table5_ablation.py --workdir=workdirs/table5_ablation

The paper ran this on RealSR x2, which is not available here; this runs DIV2KRK x2. Every
row is the paper preset (Eq. 5 gallery, L-CNN identity fit at lr 0.01, DRK inference) with
the weights lambda_1 (pinv) = 0.1, lambda_2 (unity) = 0.7, lambda_3 (rs) = 0.1 kept or zeroed.
"""

from experiments.configs import common


def _row(label, pinv, unity, range_scale):
    weights = dict(pinv=pinv, unity=unity, range_scale=range_scale)
    return common.spec(label, preset="paper", overrides=dict(fit=dict(weights=weights)))


def get_config():
    config = common.base_config(
        title="Table 5: regulariser ablation of the identity fit (DIV2KRK x2; the paper used RealSR x2)",
        datasets="DIV2KRK",
        scales="2",
        specs=dict(
            bicubic=common.BICUBIC,
            l_i=_row("L_I", 0.0, 0.0, 0.0),
            l_i_pinv=_row("L_I + 0.1 L_pinv", 0.1, 0.0, 0.0),
            l_i_unity=_row("L_I + 0.7 L_unity", 0.0, 0.7, 0.0),
            l_i_unity_rs=_row("L_I + 0.7 L_unity + 0.1 L_rs", 0.0, 0.7, 0.1),
            l_i_pinv_unity=_row("L_I + 0.1 L_pinv + 0.7 L_unity", 0.1, 0.7, 0.0),
            all_terms=_row("L_I + 0.1 L_pinv + 0.7 L_unity + 0.1 L_rs (paper)", 0.1, 0.7, 0.1),
        ),
    )
    config.save_images = False
    return config
