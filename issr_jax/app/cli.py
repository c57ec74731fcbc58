"""Command line: `issr-jax` or `python -m issr_jax` (absl flags).

    issr-jax                                   # built-in demo, writes issr_demo/
    issr-jax --input=lr.png --output=sr.png --scale=2
    issr-jax --input=LR/ --output=SR/ --scale=4 --preset=paper
    issr-jax --input=lr.png --output=sr.png --kernel=kernel.mat   # known kernel

Exit status: 0 when every file was written or skipped; 1 when any failed or a flag is invalid.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from absl import app, flags, logging

from issr_jax.app.compile_cache import enable_compilation_cache
from issr_jax.io import DEFAULT_MAX_PIXELS, ImageError, OutputExistsError
from issr_jax.presets import PRESETS

FLAGS = flags.FLAGS

flags.DEFINE_string("input", None, "LR image file, or a folder of images. Without it: run the built-in demo.")
flags.DEFINE_string("output", None, "Output file (for a file input) or folder (for a folder input or the demo).")
flags.DEFINE_integer("scale", 2, "Integer upscaling factor, >= 2.", lower_bound=2)
flags.DEFINE_enum(
    "method",
    "drk",
    ["drk", "lcnn"],
    "drk: convolve with the extracted restoration kernel (fast); lcnn: run the fitted network.",
)
flags.DEFINE_enum(
    "preset",
    "default",
    sorted(PRESETS),
    "default: spectral kernel estimate + closed-form inverse (best measured); paper: the paper as written "
    "(Adam lr 0.01); paper_literal: lr 0.1 as printed (diverges); dil_chain: the L-CNN trained on the "
    "identity of the whole blur-sample-bicubic chain (the default's closed form, learned; slower).",
)
flags.DEFINE_string(
    "kernel", None, "A known blur kernel (.npy, or .mat with variable 'Kernel') to use instead of estimating one."
)
flags.DEFINE_integer("seed", 0, "Seed of the PRNG (kernel gallery, weights, minibatches); same seed, same output.")
flags.DEFINE_bool("save_kernels", False, "Also write NAME_kernel.npy and NAME_drk.npy next to each output.")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs (otherwise they are kept, and a folder run resumes).")
flags.DEFINE_integer(
    "max_pixels",
    DEFAULT_MAX_PIXELS,
    "Refuse outputs larger than this many pixels (checked before decoding the input).",
    lower_bound=1,
)
flags.DEFINE_bool("quiet", False, "Print only errors and the final summary.")
flags.DEFINE_bool("verbose", False, "Also print the time of each stage.")
flags.DEFINE_integer(
    "batch_size",
    64,
    "Images per batched chunk of a folder run (kernels, inverses and restores of a chunk run together; bounds memory).",
    lower_bound=1,
)
flags.DEFINE_bool(
    "distributed",
    False,
    "Several hosts: call jax.distributed.initialize() (Slurm, Cloud TPU, ... detected from the environment) "
    "and process only this host's share of the folder, files[process_index::process_count]. See docs/scaling.md.",
)


def _make_cpu_results_reproducible() -> None:
    """Same input, flags and seed must give the same bits. XLA:CPU's multi-threaded FFTs
    can differ in the last bit from run to run (measured: 1 ulp on a 2040x1356 DRK apply),
    which can flip a rounded output pixel; single-threaded Eigen/FFT kernels are
    reproducible and cost about 0.02 s per DIV2KRK image. Must run before JAX starts its
    backend; an explicit setting in XLA_FLAGS wins."""
    flags_now = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags_now:
        os.environ["XLA_FLAGS"] = f"{flags_now} --xla_cpu_multi_thread_eigen=false".strip()


def _say(message: str) -> None:
    if not FLAGS.quiet:
        print(message, file=sys.stderr, flush=True)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def _explain(error: ImageError) -> str:
    """The library's message, and the flag that changes the outcome where there is one."""
    if isinstance(error, OutputExistsError):
        return f"{error}; pass --overwrite to replace it"
    return str(error)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _progress(index: int, total: int, outcome, started: float) -> None:
    from issr_jax.app.runner import Status

    if outcome.status is Status.FAILED:
        _error(outcome.problem)
        return
    done = index + 1
    elapsed = time.perf_counter() - started
    eta = elapsed / done * (total - done)
    detail = f"{outcome.seconds:.2f} s" if outcome.status is Status.DONE else "skipped (output exists)"
    line = f"[{done}/{total}] {outcome.input.name}: {detail}, ETA {_format_seconds(eta)}"
    if FLAGS.verbose and outcome.stages:
        line += " (" + ", ".join(f"{k} {v:.2f} s" for k, v in outcome.stages.items()) + ")"
    _say(line)


def _run_demo(key) -> int:
    from issr_jax.app.demo import run_demo

    output = Path(FLAGS.output or "issr_demo")
    report = run_demo(output, scale=FLAGS.scale, key=key, preset=FLAGS.preset, method=FLAGS.method, overwrite=True)
    print(report)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; options are --flags (see --help)")
    if not FLAGS.verbose:  # JAX logs backend probing (no TPU, no GPU) at INFO level
        logging.set_verbosity(logging.WARNING)
    _make_cpu_results_reproducible()
    import jax

    from issr_jax.app.runner import FAILURES_NAME, Status, super_resolve_file, super_resolve_folder
    from issr_jax.io.kernel_files import read_kernel

    if FLAGS.distributed:
        jax.distributed.initialize()  # before any device is used
    enable_compilation_cache()

    key = jax.random.key(FLAGS.seed)
    try:
        kernel = read_kernel(FLAGS.kernel) if FLAGS.kernel else None
    except ImageError as error:
        _error(_explain(error))
        return 1
    if FLAGS.input is None:
        return _run_demo(key)

    source = Path(FLAGS.input)
    common = dict(
        scale=FLAGS.scale,
        key=key,
        preset=FLAGS.preset,
        method=FLAGS.method,
        kernel=kernel,
        save_kernels=FLAGS.save_kernels,
        overwrite=FLAGS.overwrite,
        max_pixels=FLAGS.max_pixels,
    )
    if not source.exists():
        _error(f"{source}: --input does not exist; check the path")
        return 1
    if source.is_dir():
        if FLAGS.output is None:
            _error("--output is required with a folder --input (a folder to write into)")
            return 1
        started = time.perf_counter()
        failures_name, owns_folder = FAILURES_NAME, True
        try:
            share = None
            if FLAGS.distributed:
                from issr_jax.batch.mesh import shard_files
                from issr_jax.io import list_images

                index, count = jax.process_index(), jax.process_count()
                share = shard_files(list_images(source)[0], index, count)
                if count > 1:  # the hosts share the output folder
                    failures_name, owns_folder = f"failures.process{index}.txt", False
                _say(f"process {index} of {count}: {len(share)} files")
            summary = super_resolve_folder(
                source,
                FLAGS.output,
                on_outcome=lambda i, n, o: _progress(i, n, o, started),
                files=share,
                chunk_size=FLAGS.batch_size,
                failures_name=failures_name,
                remove_temporaries=owns_folder,
                **common,
            )
        except ImageError as error:
            _error(_explain(error))
            return 1
        for path, reason in summary.ignored:
            if FLAGS.verbose:
                _say(f"ignored {path.name}: {reason}")
        failed = summary.count(Status.FAILED)
        print(
            f"done {summary.count(Status.DONE)}, skipped {summary.count(Status.SKIPPED)}, failed {failed}, "
            f"ignored {len(summary.ignored)} non-image entries, in {_format_seconds(summary.seconds)}"
            + (f"; failures listed in {Path(FLAGS.output) / failures_name}" if failed else ""),
            file=sys.stderr,
        )
        return 1 if failed else 0

    output = Path(FLAGS.output) if FLAGS.output else source.with_name(f"{source.stem}_x{FLAGS.scale}{source.suffix}")
    try:
        outcome = super_resolve_file(source, output, **common)
    except ImageError as error:
        _error(_explain(error))
        return 1
    _say(f"wrote {outcome.output} in {outcome.seconds:.2f} s")
    return 0


def run() -> None:
    """Entry point of `issr-jax` and `python -m issr_jax`: `--help` lists this module's flags."""
    main_module = sys.modules["__main__"]
    main_module.__doc__ = __doc__
    for flag in FLAGS.get_flags_for_module(__name__):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


if __name__ == "__main__":
    run()
