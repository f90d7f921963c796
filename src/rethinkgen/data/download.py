"""Raw dataset files: verified downloads, and the errors that say how to get the data."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
from pathlib import Path


class DatasetUnavailableError(RuntimeError):
    """The raw data is not on disk and cannot be downloaded; the message says how to get it."""


class DatasetCorruptError(RuntimeError):
    """Raw files exist but are not the dataset they claim to be (truncated, wrong checksum)."""


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def fetch(urls: list[str], filename: str, dest: Path, md5: str | None) -> None:
    """Download `filename` from the first mirror that answers, checksum-verified, atomically."""
    from torchvision.datasets.utils import check_integrity, download_url

    errors = []
    for base in urls:
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            try:
                download_url(
                    base + filename if base.endswith("/") else base, tmp, filename, md5=None
                )
            except (urllib.error.URLError, OSError, RuntimeError) as err:
                errors.append(f"{base}: {err}")
                continue
            if md5 is not None and not check_integrity(os.path.join(tmp, filename), md5):
                errors.append(f"{base}: checksum mismatch")
                continue
            os.replace(os.path.join(tmp, filename), dest / filename)
            return
    raise DatasetUnavailableError(f"could not download {filename}: {'; '.join(errors)}")
