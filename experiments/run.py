"""Runs one experiment config: `python -m experiments.run --config=experiments/configs/NAME.py --workdir=DIR`.

    python -m experiments.run --config=experiments/configs/table2_div2krk.py \
        --workdir=workdirs/table2 [--config.methods=bicubic,default_drk] [--config.max_images=3] \
        [--data_root=../shared/datasets] [--niqe_model=PATH]

A rerun with the same workdir resumes: (image, method) pairs already in metrics.jsonl are
skipped. Each config file's docstring holds the exact command that produced RESULTS.md.
"""

from __future__ import annotations

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (experiments/configs/*.py).")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder: config.json, metrics.jsonl, results.md, images/, figures/."
)
_DATA_ROOT = flags.DEFINE_string("data_root", "../shared/datasets", "Folder holding DIV2KRK/, Set5/, Set14/, BSD100/.")
_NIQE_MODEL = flags.DEFINE_string(
    "niqe_model",
    None,
    "NIQE modelparameters.mat; default $ISSR_JAX_NIQE_MODEL, else <data_root>/../niqe/modelparameters.mat "
    "if present, else NIQE is skipped.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from experiments import harness  # late: --help stays fast

    harness.run(_CONFIG.value, _WORKDIR.value, _DATA_ROOT.value, niqe_model=_NIQE_MODEL.value)


if __name__ == "__main__":
    app.run(main)
