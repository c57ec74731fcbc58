"""Throughput benchmark: the dataset path against the floors the machine sets.

    make bench        # = python -m experiments.bench [--data_root=../shared/datasets]
                      #   [--sections=bsd100,div2krk,invert,apply,big,fits,paper_folder,fit_reference]
    make bench-gpu    # the fit and folder rows alone, for an accelerator (a few minutes)

Every measurement runs in a child process of its own, so its wall time includes Python
and JAX start-up (and compilation, unless said "warm") and its peak resident memory
(`ru_maxrss` from `os.wait4`) is its own. Baselines run in the same invocation, so the
ratios compare like with like on a shared, noisy machine:

- I/O floor: reading the same LR PNGs and writing the same SR PNGs (same encoder
  settings as the pipeline), nothing else;
- bicubic only: read, MATLAB bicubic x s (JAX), write;
- scipy.signal.fftconvolve with the same DRK on the same image, against `apply_drk`;
- the identity fit in the paper's formulation (the L-CNN run on every kernel's canvas,
  `identity_loss.dil_objective`) against the fit through the composed impulse response.

Prints one Markdown table (copied into BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

_DATA_ROOT = flags.DEFINE_string("data_root", "../shared/datasets", "Folder holding BSD100/ and DIV2KRK/.")
_PAPER_FITS = flags.DEFINE_integer("paper_fits", 100, "Galleries in the batched L-CNN identity fit (paper preset).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Runs of each BSD100 measurement; the median is reported.")
_CHAIN_FITS = flags.DEFINE_integer("chain_fits", 18, "Galleries in the batched dil_chain fit (x4); 0 skips it.")
_REFERENCE_FITS = flags.DEFINE_integer("reference_fits", 4, "Fits in the paper-formulation baseline.")
_SECTIONS = flags.DEFINE_list(
    "sections", "bsd100,div2krk,invert,fits,paper_folder,fit_reference,apply,big", "Which measurements to run."
)
_CHILD = flags.DEFINE_string("child", None, "Internal: run one measurement and print its JSON.")
_ARGS = flags.DEFINE_string("args", "{}", "Internal: the child's arguments, JSON.")

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- child measurements


def _child_io_floor(inputs: str, outputs: str, **_) -> dict:
    """Read every LR input, write every SR output again (as the pipeline writes it)."""
    import numpy as np

    from issr_jax.app.runner import PNG_COMPRESS_LEVEL
    from issr_jax.io import list_images, read_image, write_image

    produced = [read_image(p) for p in list_images(outputs)[0]]  # not timed: the pixels to write
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        for path in list_images(inputs)[0]:
            read_image(path)
        read = time.perf_counter() - start
        for image in produced:
            write_image(
                Path(folder) / image.path.name, image.pixels, dtype=image.dtype, compress_level=PNG_COMPRESS_LEVEL
            )
        write = time.perf_counter() - start - read
    return {
        "read": read,
        "write": write,
        "images": len(produced),
        "pixels": int(np.sum([p.pixels.size for p in produced])),
    }


def _child_bicubic(inputs: str, scale: int, **_) -> dict:
    """The simplest pipeline: read, MATLAB bicubic, write (JAX start-up and compiles included)."""
    import numpy as np

    from issr_jax.app.runner import PNG_COMPRESS_LEVEL
    from issr_jax.io import list_images, read_image, write_image
    from issr_jax.resize import imresize

    with tempfile.TemporaryDirectory() as folder:
        for path in list_images(inputs)[0]:
            image = read_image(path)
            out = np.asarray(imresize(image.pixels, scale=scale))
            write_image(Path(folder) / path.name, out, dtype=image.dtype, compress_level=PNG_COMPRESS_LEVEL)
    return {}


def _child_folder(inputs: str, outputs: str, scale: int, preset: str = "default", repeats: int = 1, **_) -> dict:
    """`app.runner.super_resolve_folder` in process: the sum of each stage over the files
    (of the last of `repeats` runs: the later ones warm) and each run's wall time."""
    import jax

    from issr_jax.app.compile_cache import enable_compilation_cache
    from issr_jax.app.runner import Status, super_resolve_folder

    enable_compilation_cache()
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        summary = super_resolve_folder(
            inputs, outputs, scale=scale, key=jax.random.key(0), overwrite=True, preset=preset
        )
        walls.append(time.perf_counter() - start)
    wall = walls[-1]
    stages: dict = {}
    for outcome in summary.outcomes:
        for name, seconds in outcome.stages.items():
            stages[name] = stages.get(name, 0.0) + seconds
    return {"wall": wall, "walls": walls, "stages": stages, "done": summary.count(Status.DONE)}


def _galleries(preset, scale: int, count: int):
    """`count` stage-1 outputs of the preset's estimator (`Degradation`, leading axis count)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from issr_jax.degradation import as_degradation, estimate_degradation
    from issr_jax.kernels.gaussian import gaussian_kernel

    rng = np.random.default_rng(0)
    if preset.estimator in ("spectral", "blind"):
        make = lambda: gaussian_kernel(
            size=10 * scale + 1,
            sigma_x=rng.uniform(0.4, 1.2) * scale,
            sigma_y=rng.uniform(0.4, 1.2) * scale,
            theta=rng.uniform(0, 3),
        )
        # blind: two explanations with their own priors and a noise floor, as it designs for.
        explanations = 2 if preset.estimator == "blind" else 1
        degradations = [as_degradation(np.stack([make() for _ in range(explanations)])) for _ in range(count)]
        if explanations == 2:
            degradations = [
                d._replace(weights=np.float32([0.7, 0.3]), slopes=np.float32([2.5, 3.0]), noise=np.float32(2.0))
                for d in degradations
            ]
    else:
        image = jnp.asarray(rng.random((64, 64, 3), np.float32))
        keys = jax.random.split(jax.random.key(0), count)
        degradations = [estimate_degradation(image, scale=scale, key=k, preset=preset) for k in keys]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *degradations)


def _child_invert(scale: int, count: int, preset: str, **_) -> dict:
    """`count` inverses in one batched call, the first call (compile included) and again."""
    import jax

    from issr_jax.pipeline import design_inverse_batch
    from issr_jax.presets import get_preset

    preset = get_preset(preset)
    galleries = _galleries(preset, scale, count)
    keys = jax.random.split(jax.random.key(1), count)
    start = time.perf_counter()
    jax.block_until_ready(design_inverse_batch(galleries, scale=scale, keys=keys, preset=preset).drk)
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(design_inverse_batch(galleries, scale=scale, keys=keys, preset=preset).drk)
    return {"first": first, "seconds": time.perf_counter() - start, "device": str(jax.devices()[0])}


def _first_call(timing: dict) -> str:
    """The first call runs the program once after compiling it; the warm call only runs it."""
    compile_seconds = timing["first"] - timing["seconds"]
    return f"first call {timing['first']:.2f} s (compile about {compile_seconds:.2f} s + one run)"


def _child_fit_reference(count: int, **_) -> dict:
    """The `paper` fit in the paper's formulation: every Adam step runs the L-CNN on each
    kernel's 21x21 canvas and on an impulse (`identity_loss.dil_objective`), the way the
    fit ran before it composed the impulse response. Same draws, same schedule."""
    import functools

    import jax

    from issr_jax.dil import fit
    from issr_jax.dil.identity_loss import dil_objective
    from issr_jax.presets import get_preset

    config = get_preset("paper").fit
    galleries = jax.numpy.asarray(_galleries(get_preset("paper"), 2, count).kernels)
    objective = functools.partial(
        dil_objective, model=config.model, weights=config.weights, canvas_size=21, drk_size=config.drk_size
    )
    draws = fit._draw_batch(jax.random.split(jax.random.key(1), count), config, galleries.shape[1])
    run = jax.jit(jax.vmap(lambda g, d: fit._train(g, d, config, objective).drk))
    start = time.perf_counter()
    jax.block_until_ready(run(galleries, draws))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(run(galleries, draws))
    return {"first": first, "seconds": time.perf_counter() - start}


def _child_apply(image: str, scale: int, **_) -> dict:
    """One DRK on one upsampled luma plane: `apply_drk` (warm) vs scipy.signal.fftconvolve."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.signal

    from issr_jax.drk import apply_drk
    from issr_jax.io import read_image
    from issr_jax.kernels.gaussian import gaussian_kernel
    from issr_jax.resize import imresize
    from issr_jax.restoration.lmmse import lmmse_restoration_kernel

    lr = read_image(image).pixels
    plane = np.asarray(imresize(lr, scale=scale))[..., :1]
    drk = np.asarray(
        lmmse_restoration_kernel(gaussian_kernel(size=21, sigma_x=1.5, sigma_y=1.0, theta=0.5), scale=scale)
    )
    r = drk.shape[0] // 2
    plane_j, drk_j = jnp.asarray(plane), jnp.asarray(drk)
    jax.block_until_ready(apply_drk(plane_j, drk_j))

    def best(run, repeats=5):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    ours = best(lambda: jax.block_until_ready(apply_drk(plane_j, drk_j)))
    padded = np.pad(plane[..., 0], r, mode="symmetric")
    theirs = best(lambda: scipy.signal.fftconvolve(padded, drk, mode="valid"))
    reference = scipy.signal.fftconvolve(padded.astype(np.float64), drk.astype(np.float64), mode="valid")
    error = float(np.abs(np.asarray(apply_drk(plane_j, drk_j))[..., 0] - reference).max())
    return {
        "ours": ours,
        "scipy": theirs,
        "shape": list(plane.shape[:2]),
        "drk": drk.shape[0],
        "max_error_vs_float64": error,
    }


def _child_one_file(image: str, output: str, scale: int, **_) -> dict:
    """One large file through `app.runner.super_resolve_file` (tiles above the threshold)."""
    import jax

    from issr_jax.app.compile_cache import enable_compilation_cache
    from issr_jax.app.runner import super_resolve_file
    from issr_jax.io import read_image

    enable_compilation_cache()
    outcome = super_resolve_file(image, output, scale=scale, key=jax.random.key(0), overwrite=True)
    return {"stages": outcome.stages, "shape": list(read_image(output).pixels.shape)}


CHILDREN = {
    "io_floor": _child_io_floor,
    "bicubic": _child_bicubic,
    "folder": _child_folder,
    "invert": _child_invert,
    "fit_reference": _child_fit_reference,
    "apply": _child_apply,
    "one_file": _child_one_file,
}


def _run_child_main() -> None:
    import resource

    result = CHILDREN[_CHILD.value](**json.loads(_ARGS.value))
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------- parent


def measure(command: list[str], env: dict | None = None) -> dict:
    """Runs a child; returns its JSON result (if any) plus wall seconds and peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **(env or {})}
    )
    out, err = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{err[-3000:]}")
    result = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    result.setdefault("max_rss_mib", _rss_of_last_child())
    result["process_wall"] = wall
    return result


def _rss_of_last_child() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # an upper bound


def child(name: str, **args) -> dict:
    return measure([sys.executable, "-m", "experiments.bench", f"--child={name}", f"--args={json.dumps(args)}"])


def cli(*args: str, env: dict | None = None) -> dict:
    return measure([sys.executable, "-m", "issr_jax", *args], env=env)


def _make_big_input(source: Path, path: Path, height: int, width: int) -> None:
    import numpy as np

    from issr_jax.io import read_image, write_image

    tile = read_image(source).pixels
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    write_image(path, np.tile(tile, reps)[:height, :width], compress_level=1, overwrite=True)


def main(argv: list[str]) -> None:
    if _CHILD.value:
        _run_child_main()
        return
    data = Path(_DATA_ROOT.value)
    if not data.is_absolute():
        data = (ROOT / data).resolve()
    bsd, div2krk = data / "BSD100" / "LR_x4", data / "DIV2KRK" / "LR_x2"
    rows = []

    def row(
        what: str, seconds: float, per: str = "", ratio: str = "", rss: float | None = None, note: str = ""
    ) -> None:
        rows.append((what, f"{seconds:.2f}", per, ratio, "" if rss is None else f"{rss:.0f}", note))
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        sections = set(_SECTIONS.value)
        first = sorted(div2krk.glob("*.png"))[0]
        if "bsd100" in sections:
            _bsd100(bsd, work, row)
        if "div2krk" in sections:
            _div2krk(div2krk, work, row)
        if "invert" in sections:
            for scale, preset in ((2, "fast"), (4, "fast"), (2, "default"), (4, "default")):
                inv = child("invert", scale=scale, count=100, preset=preset)
                row(
                    f"invert: 100 LMMSE DRKs x{scale} ({preset}), one call",
                    inv["seconds"],
                    f"{100 / inv['seconds']:.0f} DRK/s",
                    "",
                    inv["max_rss_mib"],
                    f"{_first_call(inv)}; target <= 5 s",
                )
        if "fits" in sections:
            count = _PAPER_FITS.value
            inv = child("invert", scale=2, count=count, preset="paper")
            row(
                f"invert: {count} L-CNN identity fits (paper), one call",
                inv["seconds"],
                f"{count / inv['seconds']:.2f} fit/s",
                "",
                inv["max_rss_mib"],
                f"{_first_call(inv)}; target <= 5 s, compile <= 10 s; {inv['device']}",
            )
            if _CHAIN_FITS.value:
                chain = child("invert", scale=4, count=_CHAIN_FITS.value, preset="dil_chain")
                row(
                    f"invert: {_CHAIN_FITS.value} dil_chain fits x4 (15 layers, 6000 steps), one call",
                    chain["seconds"],
                    f"{_CHAIN_FITS.value / chain['seconds']:.2f} fit/s",
                    "",
                    chain["max_rss_mib"],
                    _first_call(chain),
                )
        if "fit_reference" in sections:
            count = _REFERENCE_FITS.value
            ref = child("fit_reference", count=count)
            row(
                f"  baseline: {count} paper fits, the network on canvases (paper's formulation)",
                ref["seconds"],
                f"{count / ref['seconds']:.2f} fit/s",
                "",
                ref["max_rss_mib"],
                _first_call(ref),
            )
        if "paper_folder" in sections:
            _paper_folder(div2krk, work, row)
        if "apply" in sections:
            apply = child("apply", image=str(first), scale=2)
            row(
                f"apply one {apply['drk']}x{apply['drk']} DRK, "
                f"{apply['shape'][1]}x{apply['shape'][0]} plane: apply_drk",
                apply["ours"],
                "",
                f"{apply['ours'] / apply['scipy']:.2f}",
                None,
                f"vs scipy fftconvolve; max error vs float64 {apply['max_error_vs_float64']:.1e}; target <= 1.5",
            )
            row("  same, scipy.signal.fftconvolve (float32, symmetric pad)", apply["scipy"], "", "1.00", None)
        if "big" in sections:
            big_cases = (
                ("4K (3840x2160) output", (1080, 1920)),
                ("8K (7680x4320) output, tiled", (2160, 3840)),
                ("8192x8192 output, tiled", (4096, 4096)),
            )
            for label, (h, w) in big_cases:
                path = work / f"big_{h}.png"
                _make_big_input(first, path, h, w)
                big = child("one_file", image=str(path), output=str(work / f"big_{h}_x2.png"), scale=2)
                stages_note = ", ".join(f"{k} {v:.2f}" for k, v in big["stages"].items())
                row(
                    f"one file, {label}",
                    big["process_wall"],
                    "",
                    "",
                    big["max_rss_mib"],
                    f"{stages_note}; target <= 2048 MiB",
                )

    header = ("measurement", "seconds", "throughput", "ratio", "peak RSS MiB", "notes")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def _median_run(make, repeats: int) -> tuple[dict, str]:
    """Runs `make(i)` `repeats` times; the run with the median wall time, and the range."""
    runs = sorted((make(i) for i in range(repeats)), key=lambda r: r["process_wall"])
    spread = f"{runs[0]['process_wall']:.2f}-{runs[-1]['process_wall']:.2f} s" if repeats > 1 else ""
    return runs[len(runs) // 2], spread


def _bsd100(bsd: Path, work: Path, row) -> None:
    """BSD100 x4 through the command line, cold (empty compile cache) then warm, and its
    floors: each the median of `_REPEATS` runs (the machine is shared and noisy)."""
    n_runs = _REPEATS.value

    def run_cli(i: int, cold: bool) -> dict:
        cache = {"ISSR_JAX_CACHE_DIR": str(work / (f"xla_cache_cold_{i}" if cold else "xla_cache_warm"))}
        output = work / f"bsd_{'cold' if cold else 'warm'}_{i}"
        return cli(f"--input={bsd}", f"--output={output}", "--scale=4", "--quiet", "--overwrite", env=cache)

    run_cli(0, cold=False)  # fills the warm cache
    cold, cold_spread = _median_run(lambda i: run_cli(i, cold=True), n_runs)
    warm, warm_spread = _median_run(lambda i: run_cli(i, cold=False), n_runs)
    floors = sorted(
        (child("io_floor", inputs=str(bsd), outputs=str(work / "bsd_cold_0")) for _ in range(n_runs)),
        key=lambda f: f["read"] + f["write"],
    )
    floor = floors[len(floors) // 2]
    floor_s = floor["read"] + floor["write"]
    bicubic, _ = _median_run(lambda i: child("bicubic", inputs=str(bsd), scale=4), n_runs)
    stages = child("folder", inputs=str(bsd), outputs=str(work / "bsd_stages"), scale=4)
    n = floor["images"]
    row(
        "BSD100 x4: I/O floor (read LR + write SR PNGs)",
        floor_s,
        f"{n / floor_s:.1f} img/s",
        "1.00",
        floor["max_rss_mib"],
        f"read {floor['read']:.2f} s, write {floor['write']:.2f} s; median of {n_runs}",
    )
    row(
        "BSD100 x4: bicubic only (process)",
        bicubic["process_wall"],
        f"{n / bicubic['process_wall']:.1f} img/s",
        f"{bicubic['process_wall'] / floor_s:.2f}",
        bicubic["max_rss_mib"],
    )
    row(
        "BSD100 x4: CLI, cold compile cache",
        cold["process_wall"],
        f"{n / cold['process_wall']:.1f} img/s",
        f"{cold['process_wall'] / floor_s:.2f}",
        cold["max_rss_mib"],
        f"target <= 3x floor; {n_runs} runs {cold_spread}",
    )
    row(
        "BSD100 x4: CLI, warm compile cache",
        warm["process_wall"],
        f"{n / warm['process_wall']:.1f} img/s",
        f"{warm['process_wall'] / floor_s:.2f}",
        warm["max_rss_mib"],
        f"target <= 3x floor; {n_runs} runs {warm_spread}",
    )
    s = stages["stages"]
    row(
        "BSD100 x4: folder run in process",
        stages["wall"],
        f"{n / stages['wall']:.1f} img/s",
        f"{stages['wall'] / floor_s:.2f}",
        stages["max_rss_mib"],
        "stage sums (compiles included): " + ", ".join(f"{k} {v:.2f}" for k, v in s.items()),
    )


def _paper_folder(div2krk: Path, work: Path, row) -> None:
    """The `paper` preset over DIV2KRK x2 in process: a cold run (compiles), then warm."""
    runs = child("folder", inputs=str(div2krk), outputs=str(work / "k_paper"), scale=2, preset="paper", repeats=3)
    m = runs["done"]
    warm = min(runs["walls"][1:])
    row(
        "DIV2KRK x2, paper preset: folder run in process, warm",
        warm,
        f"{warm / m:.2f} s/img",
        "",
        runs["max_rss_mib"],
        f"cold {runs['walls'][0]:.1f} s; warm runs "
        + ", ".join(f"{w:.1f}" for w in runs["walls"][1:])
        + " s; stage sums of the last: "
        + ", ".join(f"{k} {v:.2f}" for k, v in runs["stages"].items())
        + "; target <= 1 s/img",
    )


def _div2krk(div2krk: Path, work: Path, row) -> None:
    """DIV2KRK x2 (1020x678 RGB in, 2040x1356 out) through the command line, and its floor."""
    cache = {"ISSR_JAX_CACHE_DIR": str(work / "k_cache")}
    k_cold = cli(f"--input={div2krk}", f"--output={work / 'k_cold'}", "--scale=2", "--quiet", env=cache)
    k_warm = cli(f"--input={div2krk}", f"--output={work / 'k_warm'}", "--scale=2", "--quiet", env=cache)
    fast = (f"--input={div2krk}", "--scale=2", "--quiet", "--preset=fast")
    cli(*fast, f"--output={work / 'f_cold'}", env=cache)
    f_warm = cli(*fast, f"--output={work / 'f_warm'}", env=cache)
    k_floor = child("io_floor", inputs=str(div2krk), outputs=str(work / "k_cold"))
    k_stages = child("folder", inputs=str(div2krk), outputs=str(work / "k_stages"), scale=2)
    m = k_floor["images"]
    kf = k_floor["read"] + k_floor["write"]
    row(
        "DIV2KRK x2: I/O floor",
        kf,
        f"{kf / m:.2f} s/img",
        "1.00",
        k_floor["max_rss_mib"],
        f"read {k_floor['read']:.2f} s, write {k_floor['write']:.2f} s",
    )
    row(
        "DIV2KRK x2: CLI, cold compile cache",
        k_cold["process_wall"],
        f"{k_cold['process_wall'] / m:.2f} s/img",
        f"{k_cold['process_wall'] / kf:.2f}",
        k_cold["max_rss_mib"],
        "target <= 1.5 s/img",
    )
    row(
        "DIV2KRK x2: CLI, warm compile cache",
        k_warm["process_wall"],
        f"{k_warm['process_wall'] / m:.2f} s/img",
        f"{k_warm['process_wall'] / kf:.2f}",
        k_warm["max_rss_mib"],
        "target <= 1.5 s/img",
    )
    row(
        "DIV2KRK x2: CLI --preset=fast, warm compile cache",
        f_warm["process_wall"],
        f"{f_warm['process_wall'] / m:.2f} s/img",
        f"{f_warm['process_wall'] / kf:.2f}",
        f_warm["max_rss_mib"],
        "target <= 0.6 s/img",
    )
    s = k_stages["stages"]
    row(
        "DIV2KRK x2: folder run in process",
        k_stages["wall"],
        f"{k_stages['wall'] / m:.2f} s/img",
        f"{k_stages['wall'] / kf:.2f}",
        k_stages["max_rss_mib"],
        "stage sums (compiles included): " + ", ".join(f"{k} {v:.2f}" for k, v in s.items()),
    )


if __name__ == "__main__":
    app.run(main)
