"""Paired PSNR gains over bicubic from harness records (`metrics.jsonl`)."""

from __future__ import annotations

DATASET_ORDER = ("DIV2KRK", "Set5", "Set14", "BSD100")


def paired_gains(records: list[dict], method: str) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """`(dataset, scale) -> [(image, PSNR of method - PSNR of bicubic)]`, in dataset order."""
    bicubic = {(r["dataset"], r["scale"], r["image"]): r["psnr"] for r in records if r["method"] == "bicubic"}
    gains: dict[tuple[str, int], list[tuple[str, float]]] = {}
    for r in records:
        key = (r["dataset"], r["scale"], r["image"])
        if r["method"] == method and key in bicubic:
            gains.setdefault((r["dataset"], int(r["scale"])), []).append((r["image"], r["psnr"] - bicubic[key]))
    rank = lambda group: (DATASET_ORDER.index(group[0]) if group[0] in DATASET_ORDER else len(DATASET_ORDER), group)
    return {group: gains[group] for group in sorted(gains, key=rank)}
