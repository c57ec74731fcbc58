"""The run loop: the work still to do, each image through every method, records appended,
results.md rewritten at the end."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from experiments.harness.discovery import list_samples, load_sample
from experiments.harness.figures import figure_rows
from experiments.harness.methods import check_spec, run_method
from experiments.harness.scoring import kernel_error, score
from experiments.harness.tables import csv_list, write_results
from experiments.harness.variants import variant_root
from issr_jax.app.figures import compose_figure
from issr_jax.io import quantise, write_image
from issr_jax.metrics import NIQE_MODEL_ENV

__all__ = ["METRICS_FILE", "resolve_niqe_model", "run"]

METRICS_FILE = "metrics.jsonl"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_niqe_model(niqe_model: str | None, data_root: Path) -> str | None:
    """The NIQE model: the flag, else `$ISSR_JAX_NIQE_MODEL`, else `<data_root>/../niqe/
    modelparameters.mat` if it exists, else None (NIQE skipped, with a note)."""
    for candidate in (niqe_model, os.environ.get(NIQE_MODEL_ENV)):
        if candidate:
            if not Path(candidate).is_file():
                raise FileNotFoundError(f"{candidate}: NIQE model not found")
            return str(candidate)
    fallback = Path(data_root).parent / "niqe" / "modelparameters.mat"
    return str(fallback) if fallback.is_file() else None


def _load_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by an interrupted run: redo that pair
                _say(f"{path}:{number}: unreadable line ignored")
    return records


def _record_key(record: dict) -> tuple:
    return (record["dataset"], int(record["scale"]), record["image"], record["method"])


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run(
    config: ml_collections.ConfigDict, workdir: str | Path, data_root: str | Path, *, niqe_model: str | None = None
) -> int:
    """Runs an experiment config; returns the number of new (image, method) records.

    Args:
        config: see `experiments/configs/common.py::base_config`.
        workdir: output folder (created); holds `config.json`, `metrics.jsonl`,
            `results.md`, `images/` and `figures/`.
        data_root: the folder holding DIV2KRK/, Set5/, Set14/, BSD100/.
        niqe_model: NIQE's `modelparameters.mat` (see `resolve_niqe_model`).
    """
    workdir, data_root = Path(workdir), Path(data_root)
    workdir.mkdir(parents=True, exist_ok=True)
    methods = csv_list(config.methods)
    unknown = [m for m in methods if m not in config.method_specs]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; this config has {list(config.method_specs)}")
    for name in methods:
        check_spec(config.method_specs[name], name)
    niqe_path = resolve_niqe_model(niqe_model, data_root) if config.niqe else None
    if config.niqe and niqe_path is None:
        _say(
            f"note: no NIQE model (--niqe_model, ${NIQE_MODEL_ENV}, or "
            f"{data_root.parent / 'niqe' / 'modelparameters.mat'}); NIQE skipped"
        )
    (workdir / "config.json").write_text(
        json.dumps(
            {
                "config": json.loads(config.to_json()),
                "data_root": str(data_root),
                "niqe_model": niqe_path,
                "jax": jax.__version__,
                "backend": jax.default_backend(),
                "argv": sys.argv,
            },
            indent=2,
        )
    )

    metrics_path = workdir / METRICS_FILE
    records = _load_records(metrics_path)
    done = {_record_key(r) for r in records}
    groups = [(d, int(s)) for d in csv_list(config.datasets) for s in csv_list(config.scales)]
    work = []
    for dataset, scale in groups:
        root = variant_root(data_root, workdir, dataset, scale) if "@" in dataset else data_root
        files = list_samples(root, dataset, scale)
        if config.max_images:
            files = files[: config.max_images]
        for index, item in enumerate(files):
            todo = [
                m
                for m in methods
                if (dataset, scale, item.name, m) not in done
                and not (config.method_specs[m].max_images and index >= config.method_specs[m].max_images)
                and not (
                    config.method_specs[m].kind != "bicubic"
                    and config.method_specs[m].kernel_source == "true"
                    and item.kernel is None
                )
            ]
            work.append((item, index, todo))
    total_todo = sum(1 for *_, todo in work if todo)
    _say(
        f"{len(work)} images in {len(groups)} (dataset, scale) groups; {total_todo} with work to do, "
        f"{len(done)} records already in {metrics_path}"
    )

    new, finished, started = 0, 0, time.perf_counter()
    with metrics_path.open("a") as sink:
        for item, index, todo in work:
            if not todo:
                continue
            image_start = time.perf_counter()
            sample = load_sample(item)
            key = jax.random.key(config.seed)  # the same key for every image, as the CLI
            cache, outputs, psnrs, parts = {}, {}, {}, []
            for name in todo:
                spec = config.method_specs[name]
                method_start = time.perf_counter()
                output = run_method(spec, name, sample, key=key, cache=cache)
                if output is None:
                    continue
                scores = score(output.image, sample.hr, scale=item.scale, niqe_model=niqe_path)
                record = {
                    "dataset": item.dataset,
                    "scale": item.scale,
                    "image": item.name,
                    "method": name,
                    **scores,
                    "seconds": {**output.seconds, "total": sum(output.seconds.values())},
                    "shared": output.shared,
                    "lr_shape": list(sample.lr.shape),
                    **output.extra,
                }
                if output.kernel is not None:
                    record["kernel_size"] = int(output.kernel.shape[0])
                    if sample.kernel is not None and spec.kernel_source == "estimated":
                        record["kernel_rel_l2"] = kernel_error(output.kernel, sample.kernel)
                if output.drk is not None:
                    record["drk_size"] = int(output.drk.shape[0])
                    record["drk_sum"] = float(np.sum(output.drk))
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                records.append(record)
                outputs[name] = output
                psnrs[name] = scores["psnr"]
                new += 1
                if config.save_images:
                    folder = workdir / "images" / f"{item.dataset}_x{item.scale}" / name
                    folder.mkdir(parents=True, exist_ok=True)
                    write_image(folder / f"{item.name}.png", quantise(output.image), overwrite=True)
                parts.append(f"{name} {time.perf_counter() - method_start:.1f}s {scores['psnr']:.2f}dB")
            if index < config.figures and outputs:
                (workdir / "figures").mkdir(exist_ok=True)
                figure = compose_figure(figure_rows(sample, outputs, psnrs))
                write_image(
                    workdir / "figures" / f"{item.dataset}_x{item.scale}_{item.name}.png", figure, overwrite=True
                )
            finished += 1
            elapsed = time.perf_counter() - started
            eta = elapsed / finished * (total_todo - finished)
            _say(
                f"[{finished}/{total_todo}] {item.dataset} x{item.scale} {item.name}: "
                f"{time.perf_counter() - image_start:.1f} s ({', '.join(parts)}), ETA {_duration(eta)}"
            )
    write_results(records, workdir / "results.md", config)
    _say(f"{new} new records in {_duration(time.perf_counter() - started)}; results in {workdir / 'results.md'}")
    return new
