"""Output file names: the format chosen, a suffix, the default name of a single output."""

from __future__ import annotations

from pathlib import Path

from issr_jax.io import IMAGE_EXTENSIONS, ImageError
from issr_jax.output_size import SizeRequest

__all__ = [
    "OUTPUT_FORMATS",
    "check_suffix",
    "default_output",
    "format_of",
    "output_extension",
    "output_paths",
]

# Format names and the extension each writes; "same" keeps the input's extension.
OUTPUT_FORMATS = {"same": None, "png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tif"}
_FORMAT_OF_EXTENSION = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff"}


def format_of(path: str | Path) -> str | None:
    """The format name (a key of `OUTPUT_FORMATS`) of a file name's extension, or None."""
    return _FORMAT_OF_EXTENSION.get(Path(path).suffix.lower())


def check_suffix(suffix: str) -> None:
    """Raises ValueError unless `suffix` can end a file name's stem in the same folder."""
    bad = [c for c in ("/", "\\", "\0") if c in suffix]
    if bad:
        raise ValueError(f"a suffix must not contain {' or '.join(map(repr, bad))}, got {suffix!r}")


def output_extension(input_path: Path, output_format: str) -> str:
    """The extension the output of `input_path` gets: the input's own for `"same"`."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    return OUTPUT_FORMATS[output_format] or input_path.suffix


def output_paths(
    inputs: list[Path], folder: Path, *, output_format: str = "same", suffix: str = ""
) -> tuple[list[Path], dict[int, str]]:
    """Where each input's output goes in `folder` (`{stem}{suffix}{extension}`), and the
    inputs that cannot have one, by index, with the problem.

    An input cannot have an output when its extension is read but not written (HEIC,
    AVIF with `"same"`), or when an earlier input already has the same output name (`a.png`
    and `a.jpg` with one format).
    """
    check_suffix(suffix)
    targets, problems, owner = [], {}, {}
    for index, path in enumerate(inputs):
        extension = output_extension(path, output_format)
        target = folder / f"{path.stem}{suffix}{extension}"
        targets.append(target)
        if extension.lower() not in IMAGE_EXTENSIONS:
            problems[index] = str(ImageError(path, f"{extension} files are read, not written; choose an output format"))
        elif target.name.lower() in owner:
            first = owner[target.name.lower()].name
            problems[index] = str(
                ImageError(path, f"its output {target.name} is also that of {first}; keep the formats or rename one")
            )
        else:
            owner[target.name.lower()] = path
    return targets, problems


def default_output(input_path: Path, *, size: SizeRequest, output_format: str = "same", suffix: str = "") -> Path:
    """The output of a single file when none is named: beside the input, `{stem}{suffix}`
    with the suffix defaulting to the size asked (`_x2`, `_x2.5`, `_w800`, `_h600`,
    `_800x600`)."""
    check_suffix(suffix)
    if not suffix:
        if size.scale is not None:
            suffix = f"_x{size.scale}"
        elif size.outscale is not None:
            suffix = f"_x{size.outscale:g}"
        elif size.height is None:
            suffix = f"_w{size.width}"
        elif size.width is None:
            suffix = f"_h{size.height}"
        else:
            suffix = f"_{size.width}x{size.height}"
    return input_path.with_name(f"{input_path.stem}{suffix}{output_extension(input_path, output_format)}")
