"""Decode every image of an image-list split once, at preparation, to find unreadable files.

A truncated or damaged JPEG would otherwise pass preparation and stop training hours later,
when a DataLoader worker first decodes it. The check decodes each file as training does
(PIL, then RGB), at reduced scale (JPEG draft mode) to be quick; draft decoding still reads
the whole compressed stream, so truncation is caught.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rethinkgen.data.download import DatasetCorruptError

log = logging.getLogger(__name__)

# Decoding releases the GIL inside PIL, so threads scale without pickling paths to processes.
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)


def decode_error(path: str | os.PathLike) -> str | None:
    """Why the image at ``path`` cannot be decoded, or None when it decodes."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.convert("RGB")
    except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError...)
        return f"{type(err).__name__}: {err}"
    return None


def unreadable_images(
    root: str | os.PathLike, paths, workers: int = DEFAULT_WORKERS
) -> list[tuple[str, str]]:
    """(relative path, error) of every image under ``root`` that does not decode."""
    base = Path(root)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = pool.map(lambda rel: decode_error(base / rel), paths, chunksize=64)
        return [(str(rel), error) for rel, error in zip(paths, errors) if error is not None]


def check_images_decode(base: Path, paths: list[str], shown: int = 20) -> None:
    """Fail, naming the files, when any image does not decode (see config/README.md).

    Failing rather than skipping keeps the split exactly the folder's contents: a bad copy
    of ImageNet is fixed at its source, not silently trained on with images missing.
    """
    log.info("decoding %d images under %s to check them", len(paths), base)
    bad = unreadable_images(base, paths)
    if not bad:
        return
    for rel, error in bad:
        log.error("unreadable image %s: %s", base / rel, error)
    listed = "\n".join(f"  {base / rel}: {error}" for rel, error in bad[:shown])
    more = f"\n  ... and {len(bad) - shown} more (all are in the log)" if len(bad) > shown else ""
    raise DatasetCorruptError(
        f"{len(bad)} of {len(paths)} images under {Path(base).resolve()} cannot be decoded:\n"
        f"{listed}{more}\nReplace them with intact copies from the original archive, or "
        "delete them to train without them, then rerun."
    )


def listing_stamp(base: Path, paths: list[str]) -> str:
    """A digest of the files' names, sizes and modification times (no contents read)."""
    import hashlib

    digest = hashlib.sha256(str(base.resolve()).encode())
    for rel in sorted(paths):
        stat = (base / rel).stat()
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def check_images_decode_once(base: Path, paths: list[str], cache: Path) -> None:
    """`check_images_decode`, skipped when these very files (names, sizes, times) were
    checked before: a dry run of an own-data config then decodes nothing."""
    marker = cache / listing_stamp(base, paths)
    if marker.exists():
        return
    check_images_decode(base, paths)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
