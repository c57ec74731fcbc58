"""Building blocks of the experiment configs: the base config and method specs.

A method spec says how one row of a results table is produced:

- `kind`: `"bicubic"`, `"issr"` (the pipeline: estimate, invert, restore), `"wiener"` or
  `"pinv"` (the baselines of `issr_jax.restoration.baselines`).
- `preset`: the library preset the row starts from (`default`, `fast`, `paper`, ...);
  for `wiener`/`pinv` it picks the kernel estimator when `kernel_source="estimated"`.
- `overrides`: changes to that preset, nested like the dataclasses, e.g.
  `{"estimator": "paper", "fit": {"learning_rate": 0.1, "weights": {"pinv": 0.0}}}`.
- `method`: `"drk"` (convolve with the restoration kernel) or `"lcnn"` (run the L-CNN).
- `kernel_source`: `"estimated"` (from the LR image) or `"true"` (the dataset's kernel;
  rows needing it are skipped on sets without kernels).
- `max_images`: 0 for every image, else only the first N of each (dataset, scale).
- `label`: the row's text in results.md.
"""

from __future__ import annotations

import ml_collections


def spec(
    label: str,
    *,
    kind: str = "issr",
    preset: str = "default",
    method: str = "drk",
    kernel_source: str = "estimated",
    overrides: dict | None = None,
    max_images: int = 0,
) -> ml_collections.ConfigDict:
    """One method spec (see the module docstring)."""
    return ml_collections.ConfigDict(
        dict(
            label=label,
            kind=kind,
            preset=preset,
            method=method,
            kernel_source=kernel_source,
            overrides=overrides or {},
            max_images=max_images,
        )
    )


def base_config(*, datasets: str, scales: str, specs: dict, title: str) -> ml_collections.ConfigDict:
    """The fields every experiment has.

    Args:
        datasets: comma-separated folder names under the data root (DIV2KRK, Set5, Set14, BSD100).
        scales: comma-separated integer factors.
        specs: method name -> `spec(...)`; `config.methods` lists all of them, in order, and
            `--config.methods=a,b` restricts a run to some.
        title: the heading of results.md.
    """
    config = ml_collections.ConfigDict()
    config.title = title
    config.datasets = datasets
    config.scales = scales
    config.method_specs = ml_collections.ConfigDict(specs)
    config.methods = ",".join(specs)
    config.seed = 0  # jax.random.key(seed) for every image, as the CLI's --seed
    config.max_images = 0  # 0: every image of each (dataset, scale); N: the first N (sorted by name)
    config.save_images = True  # SR PNGs under images/
    config.figures = 3  # figures (K, DRK, crops) for the first N images of each (dataset, scale)
    config.niqe = True  # NIQE is ~1.5 s per DIV2KRK image on CPU
    return config


# The rows shared by several tables.
BICUBIC = spec("Bicubic (MATLAB imresize)", kind="bicubic")
PAPER_DRK = spec("ISSR-DIL paper preset, DRK", preset="paper", method="drk")
PAPER_LCNN = spec("ISSR-DIL paper preset, L-CNN", preset="paper", method="lcnn")
DEFAULT_DRK = spec("default preset (noise, blind K, denoised + LMMSE), DRK", preset="default", method="drk")
FAST_DRK = spec("fast preset (spectral K + LMMSE), DRK", preset="fast", method="drk")
DIL_CHAIN_DRK = spec("dil_chain preset (spectral K + DIL of the chain), DRK", preset="dil_chain", method="drk")
# A known kernel with the default preset's noise model, prior fit and denoising.
ORACLE_DRK = spec("true K + default preset's noise model and LMMSE", preset="default", kernel_source="true")
