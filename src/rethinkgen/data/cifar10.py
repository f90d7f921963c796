"""CIFAR-10 from its python pickle tarball, verified by the archive's MD5 or, for a
re-packed copy (other tar/gzip bytes), by the MD5 of each batch file inside it.

The batch files' checksums are the ones torchvision publishes (``CIFAR10.train_list``,
``test_list``, ``meta``), read from torchvision rather than copied here. Batches pickled by
Python 2 (the original) and by Python 3 (bytes or str keys) are both read.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError, fetch, md5_of
from rethinkgen.data.splits import Split

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_HOW_TO_GET = (
    f"Download {CIFAR10_URL} (MD5 {CIFAR10_MD5}) and put it in the folder named by "
    "`datasets.<key>.root`, point `datasets.<key>.archive` at an existing copy, or set "
    "`download: true` on a machine with internet access."
)


def published_member_md5() -> dict[str, str]:
    """Batch file name -> MD5, as torchvision publishes them for the genuine archive."""
    from torchvision.datasets import CIFAR10

    pairs = (
        CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    )
    return dict(pairs)


def _text_keys(batch: dict) -> dict:
    """Python 3 pickles made with encoding='bytes' have bytes keys and label names."""
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "label_names" in batch:
        batch["label_names"] = [
            n.decode() if isinstance(n, bytes) else n for n in batch["label_names"]
        ]
    return batch


def read_members(path: Path) -> dict[str, bytes]:
    """The batch files in the tarball, by base name, as bytes."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            return {
                Path(m.name).name: tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile()
                and Path(m.name).name.startswith(("data_batch_", "test_batch", "batches.meta"))
            }
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DatasetCorruptError(
            f"cifar10: cannot read {path} ({err}). {CIFAR10_HOW_TO_GET}"
        ) from err


def verify(
    path: Path, members: dict[str, bytes], md5: str | None, member_md5: dict[str, str] | None
) -> str:
    """Which check accepted the archive; DatasetCorruptError naming each failed check."""
    if md5 is None:
        return "no check (md5 disabled)"
    archive_md5 = md5_of(path.read_bytes())
    if archive_md5 == md5:
        return "archive MD5"
    member_md5 = published_member_md5() if member_md5 is None else member_md5
    wrong = [
        f"{name} {'missing' if name not in members else 'MD5 ' + md5_of(members[name])} "
        f"(published {expected})"
        for name, expected in sorted(member_md5.items())
        if name not in members or md5_of(members[name]) != expected
    ]
    if not wrong:
        return "batch files' MD5 (re-packed archive)"
    raise DatasetCorruptError(
        f"cifar10: {path} failed both checks: (1) archive MD5 {archive_md5}, expected {md5}; "
        f"(2) batch files inside it: {'; '.join(wrong)}. The file is damaged, incomplete, or "
        f"its batches were re-pickled (only re-packing the same batch files is accepted). "
        f"{CIFAR10_HOW_TO_GET}"
    )


def prepare_cifar10(
    root: str,
    download: bool,
    archive: str | None = None,
    md5: str | None = CIFAR10_MD5,
    member_md5: dict[str, str] | None = None,
):
    """Train and test Splits from cifar-10-python.tar.gz (see the module docstring)."""
    path = Path(archive) if archive else Path(root) / CIFAR10_ARCHIVE
    if not path.is_file():
        if not download or archive:
            raise DatasetUnavailableError(
                f"cifar10: {path.resolve()} not found. {CIFAR10_HOW_TO_GET}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fetch([CIFAR10_URL], CIFAR10_ARCHIVE, path.parent, md5)
        except DatasetUnavailableError as err:
            raise DatasetUnavailableError(f"cifar10: {err}. {CIFAR10_HOW_TO_GET}") from err
    members = read_members(path)
    verify(path, members, md5, member_md5)
    try:
        batches = {
            name: _text_keys(pickle.loads(data, encoding="latin1"))  # noqa: S301 (verified)
            for name, data in members.items()
        }
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DatasetCorruptError(
            f"cifar10: cannot unpickle a batch in {path} ({err}). {CIFAR10_HOW_TO_GET}"
        ) from err
    train_names = sorted(n for n in batches if n.startswith("data_batch_"))
    if (
        not train_names
        or "test_batch" not in batches
        or "label_names" not in batches.get("batches.meta", {})
    ):
        raise DatasetCorruptError(
            f"cifar10: {path} lacks data_batch_*, test_batch or batches.meta "
            f"with label_names. {CIFAR10_HOW_TO_GET}"
        )
    classes = [str(name) for name in batches["batches.meta"]["label_names"]]

    def to_split(parts: list[dict]) -> Split:
        images = np.concatenate([np.asarray(p["data"], dtype=np.uint8) for p in parts])
        labels = np.concatenate([np.asarray(p["labels"], dtype=np.int64) for p in parts])
        return Split(images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels, classes)

    return to_split([batches[n] for n in train_names]), to_split([batches["test_batch"]])
