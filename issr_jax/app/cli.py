"""Command line: `issr-jax` or `python -m issr_jax` (absl flags).

    issr-jax                                   # built-in demo, writes issr_demo/
    issr-jax --input=lr.png --output=sr.png --scale=2
    issr-jax --input=LR/ --output=SR/ --scale=4 --preset=paper
    issr-jax --input=lr.png --output=sr.png --kernel=kernel.mat   # known kernel
    issr-jax --input=lr.png --noise=0 --preset=fast                # a clean image, linear only
    issr-jax --input=photo.jpg --outscale=2.5 --quality=90         # any size; photo_x2.5.jpg
    issr-jax --input=LR/ --output=SR/ --width=1920 --format=webp --suffix=_hd

Exit status: 0 when every file was written or skipped; 1 when any failed or a flag is invalid
(one line on stderr, nothing written).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from absl import app, flags, logging

from issr_jax.app.compile_cache import enable_compilation_cache
from issr_jax.app.naming import OUTPUT_FORMATS, check_suffix, default_output, format_of
from issr_jax.io import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, FormatError, ImageError, OutputExistsError
from issr_jax.output_size import SizeRequest
from issr_jax.presets import PRESETS

FLAGS = flags.FLAGS

flags.DEFINE_string("input", None, "LR image file, or a folder of images. Without it: run the built-in demo.")
flags.DEFINE_string("output", None, "Output file (for a file input) or folder (for a folder input or the demo).")
flags.DEFINE_integer("scale", 2, "Integer upscaling factor, >= 2.", lower_bound=2)
flags.DEFINE_float(
    "outscale",
    None,
    "Any scale > 1 instead of --scale (1.5, 2.5, 3.3): super-resolves at the next integer scale, then "
    "MATLAB-bicubic downscales to round(outscale x size).",
)
flags.register_validator(
    "outscale", lambda value: value is None or (math.isfinite(value) and value > 1), "must be a number > 1, e.g. 2.5"
)
flags.DEFINE_integer(
    "width", None, "Output width in pixels instead of --scale; alone it keeps the aspect ratio.", lower_bound=1
)
flags.DEFINE_integer(
    "height", None, "Output height in pixels instead of --scale; alone it keeps the aspect ratio.", lower_bound=1
)
flags.DEFINE_enum(
    "format",
    "same",
    list(OUTPUT_FORMATS),
    "Output format: same (the input's, or --output's extension), png, jpg, webp or tiff. An input with alpha "
    "(or 16 bits) fails for a format that cannot store it, never losing it silently.",
)
flags.DEFINE_integer(
    "quality", None, "JPEG/WebP quality (default: JPEG 95, WebP lossless).", lower_bound=1, upper_bound=100
)
flags.DEFINE_string(
    "suffix",
    "",
    "Added to each output's name in a folder run (a.png -> a{suffix}.png; default none), or to a "
    "single output's default name instead of _x2.",
)
flags.DEFINE_bool(
    "strip_metadata",
    False,
    "Write no ICC profile, PNG colour chunks or EXIF. By default the input's are carried over (EXIF orientation "
    "reset to 1, its pixel dimensions updated); pixels are never colour-converted.",
)
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
    "default: noise measured, blur explained by a Gaussian or a resampler, LR denoised, closed-form inverse "
    "(best measured, on clean and real inputs); fast: one Gaussian and the closed form, no noise model (clean "
    "inputs); paper: the paper as written (Adam lr 0.01); paper_literal: lr 0.1 as printed (diverges); "
    "dil_chain: the L-CNN trained on the identity of the whole blur-sample-bicubic chain (fast's closed form, "
    "learned; slower).",
)
flags.DEFINE_string(
    "noise",
    "auto",
    "Noise of the input: auto (measure it per image), 0 (assume a clean image), or its standard deviation in "
    "8-bit levels per channel (e.g. 5). Presets fast and paper take only auto or 0.",
)


def _noise_value(text: str) -> float | None:
    """--noise as the library takes it: None for auto, else the number (NaN if it is none)."""
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        return math.nan


flags.register_validator(
    "noise",
    lambda text: text == "auto" or 0 <= _noise_value(text) < math.inf,
    "must be auto, 0, or a noise standard deviation >= 0 in 8-bit levels, e.g. 5",
)
flags.DEFINE_string(
    "kernel", None, "A known blur kernel (.npy, or .mat with variable 'Kernel') to use instead of estimating one."
)
flags.DEFINE_integer("seed", 0, "Seed of the PRNG (kernel gallery, weights, minibatches); same seed, same output.")
flags.DEFINE_bool(
    "save_kernels",
    False,
    "Also write NAME_kernel.npy (the blur the inverse was designed for), NAME_drk.npy (the restoration kernel) "
    "and NAME_degradation.json (the estimated noise and the blur's explanations) next to each output.",
)
flags.DEFINE_bool("overwrite", False, "Replace existing outputs (otherwise they are kept, and a folder run resumes).")
flags.DEFINE_integer(
    "max_pixels",
    DEFAULT_MAX_PIXELS,
    "Refuse outputs larger than this many pixels (before any --outscale/--width downscale; checked before "
    "decoding the input when the scale is known).",
    lower_bound=1,
)
flags.DEFINE_bool("quiet", False, "Print only errors and the final summary.")
flags.DEFINE_bool("verbose", False, "Also print the time of each stage, and the estimated noise and blur.")
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
    if isinstance(error, FormatError):
        return f"{error} (choose with --format, or --output's extension)"
    from issr_jax.app.outcomes import OutputSizeError

    if isinstance(error, OutputSizeError):
        return f"{error} (--width, --height or --outscale)"
    return str(error)


class _FlagError(Exception):
    """Flags that cannot go together, or that do not fit the input: one line, naming them."""


def _size_request() -> SizeRequest:
    """The output size: --scale (the default), --outscale, or --width/--height."""
    chosen = [f"--{name}" for name in ("scale", "outscale") if FLAGS[name].present]
    if FLAGS.width is not None or FLAGS.height is not None:
        chosen.append("--width/--height")
    if len(chosen) > 1:
        raise _FlagError(f"{' and '.join(chosen)} each set the output size; pass one of them")
    if FLAGS.outscale is not None:
        return SizeRequest(outscale=FLAGS.outscale)
    if FLAGS.width is not None or FLAGS.height is not None:
        return SizeRequest(width=FLAGS.width, height=FLAGS.height)
    return SizeRequest(scale=FLAGS.scale)


_LOSSY = ("jpg", "webp")
_FILE_FLAGS = ("outscale", "width", "height", "format", "quality", "suffix", "strip_metadata")


def _check_output_flags(source: Path, size: SizeRequest) -> Path | None:
    """Refuses flags that cannot apply to this input, before anything is read or written.

    Returns:
        the output file of a single-file input (None for a folder).
    """
    try:
        check_suffix(FLAGS.suffix)
    except ValueError as error:
        raise _FlagError(f"--suffix: {error}") from None
    if FLAGS.format == "webp" and ".webp" not in IMAGE_EXTENSIONS:
        raise _FlagError("--format=webp: this Pillow was built without WebP; choose another --format")
    if FLAGS.quality is not None and FLAGS.format not in ("same", *_LOSSY):
        raise _FlagError(f"--quality applies to JPEG and WebP outputs; --format={FLAGS.format} is lossless")
    if source.is_dir():
        return None
    if FLAGS.output is None:
        output = default_output(source, size=size, output_format=FLAGS.format, suffix=FLAGS.suffix)
    elif FLAGS.suffix:
        raise _FlagError("--suffix names a folder run's outputs or a default output name; --output names the file")
    else:
        output = Path(FLAGS.output)
    if output.suffix.lower() not in IMAGE_EXTENSIONS:
        raise _FlagError(
            f"{output}: {output.suffix or 'a name without an extension'} files are not written; "
            "choose --format=png, jpg, webp or tiff, or another --output"
        )
    if FLAGS.format != "same" and format_of(output) != FLAGS.format:
        raise _FlagError(f"--output={output} is not a {FLAGS.format} file name but --format={FLAGS.format}")
    if FLAGS.quality is not None and format_of(output) not in _LOSSY:
        raise _FlagError(f"--quality applies to JPEG and WebP outputs; {output} is lossless")
    return output


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
    if FLAGS.verbose and outcome.estimate:
        line += f"; {outcome.estimate}"
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
    if FLAGS.input is None:
        misplaced = [f"--{name}" for name in _FILE_FLAGS if FLAGS[name].present]
        if misplaced:
            _error(f"{', '.join(misplaced)} apply to --input files; the built-in demo takes none of them")
            return 1
    try:
        size = _size_request()
        output = _check_output_flags(Path(FLAGS.input), size) if FLAGS.input is not None else None
        noise = _noise_value(FLAGS.noise)
        if noise and not PRESETS[FLAGS.preset].models_noise:
            raise _FlagError(
                f"--noise={FLAGS.noise}: preset {FLAGS.preset} assumes a clean image; use --noise=auto or 0"
            )
    except _FlagError as error:
        _error(str(error))
        return 1
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
        scale=size.scale,
        outscale=size.outscale,
        width=size.width,
        height=size.height,
        key=key,
        preset=FLAGS.preset,
        method=FLAGS.method,
        kernel=kernel,
        noise=noise,
        save_kernels=FLAGS.save_kernels,
        overwrite=FLAGS.overwrite,
        max_pixels=FLAGS.max_pixels,
        quality=FLAGS.quality,
        strip_metadata=FLAGS.strip_metadata,
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
                output_format=FLAGS.format,
                suffix=FLAGS.suffix,
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

    try:
        outcome = super_resolve_file(source, output, **common)
    except ImageError as error:
        _error(_explain(error))
        return 1
    detail = f"; {outcome.estimate}" if FLAGS.verbose and outcome.estimate else ""
    _say(f"wrote {outcome.output} in {outcome.seconds:.2f} s{detail}")
    return 0


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing, with a bad flag reported in one line (and exit status 1) instead of
    a traceback-like block."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        _error(" ".join(str(error).split()))
        sys.exit(1)


def run() -> None:
    """Entry point of `issr-jax` and `python -m issr_jax`: `--help` lists this module's flags."""
    main_module = sys.modules["__main__"]
    main_module.__doc__ = __doc__
    for flag in FLAGS.get_flags_for_module(__name__):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
