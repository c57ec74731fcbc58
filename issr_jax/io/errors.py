"""The error every reader and writer of this package raises: one line, the path first."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FormatError", "ImageError", "OutputExistsError", "describe_error"]


class ImageError(Exception):
    """A file that cannot be read or written as an image.

    `str(error)` is one line, `"{path}: {problem}"`, where the problem says what to do
    about it when there is something to do.

    Attributes:
        path: the file (or folder) concerned, as a `Path`.
        problem: what is wrong, one line.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str):
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


class OutputExistsError(ImageError):
    """The output file exists and overwriting it was not asked for (the caller says how)."""

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path, "already exists; overwriting it was not asked for")


class FormatError(ImageError):
    """The output's format cannot hold this image (alpha, 16 bits) or is not written at all."""


def describe_error(error: BaseException) -> str:
    """`ErrorType: message` on one line, for the end of an `ImageError` problem."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
