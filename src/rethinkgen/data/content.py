"""What a user's own data is: a digest of its raw files, part of its dataset's identity.

The built-in datasets are fixed by their name and published checksums. An ``image_folder``,
an ``npz`` file or a local torchvision copy (``svhn``, ``cifar100``, ``kmnist``) can change
under the same config, so its dataset spec carries ``content_sha256``: the SHA-256 of the
list of its raw files with each one's size and SHA-256. Adding an image to a class or
overwriting the ``.npz`` changes it, hence the prepared split's params and the identity of
every run on it: Snakemake rebuilds the split and retrains them, and ``rethinkgen status``
shows their old results as outdated.

Hashing reads every byte once; a file's hash is then reused while its path, size and
modification time stay the same (in this process, and across processes in ``cache_file``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from rethinkgen.config import USER_DATA_SOURCES
from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError

DIGEST_KEY = "content_sha256"
# The files each local copy is read from (rethinkgen.data.local_copies), as torchvision names them.
LOCAL_COPY_FILES = {
    "svhn": (("train_32x32.mat", "test_32x32.mat"),),
    "cifar100": (
        ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        ("cifar-100-python.tar.gz",),
    ),
    "kmnist": (
        (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ),
    ),
}
# Snakemake's own folder: present where a workflow runs, so the cache lives with its state.
DEFAULT_CACHE = Path(".snakemake") / "rethinkgen" / "file_digests.json"


def raw_files(spec: dict) -> list[Path]:
    """The files a user dataset is read from, in a fixed order."""
    from rethinkgen.data.own import folder_classes, folder_samples

    name, root = spec["name"], Path(spec["root"])
    if name == "npz":
        return [root]
    if name == "image_folder":
        classes = folder_classes(root)
        return [
            root / path
            for split in ("train", "test")
            for path, _ in folder_samples(root, split, classes)
        ]
    for choice in LOCAL_COPY_FILES[name]:  # the first complete set, as the reader picks it
        if all((root / f).is_file() for f in choice):
            return [root / f for f in choice]
    return []  # nothing there: preparing it fails and says what to copy where


_MEMORY: dict[str, str] = {}  # the cache when no cache file is given


def file_digest(path: Path, stat: os.stat_result, cache: dict) -> str:
    key = f"{os.path.realpath(path)}\t{stat.st_size}\t{stat.st_mtime_ns}"
    if key not in cache:
        with open(path, "rb") as handle:
            cache[key] = hashlib.file_digest(handle, "sha256").hexdigest()
    return cache[key]


def content_digest(spec: dict, cache_file: str | os.PathLike | None = None) -> str:
    """SHA-256 of a user dataset's files: relative path, size and SHA-256 of each.

    Raises DatasetUnavailableError/DatasetCorruptError when the files cannot be listed."""
    root = Path(spec["root"])
    cache = _load_cache(cache_file)
    before = len(cache)
    lines = []
    for path in raw_files(spec):
        try:
            stat = path.stat()
            digest = file_digest(path, stat, cache)
        except OSError as err:
            raise DatasetCorruptError(f"{spec['name']}: cannot read {path} ({err})") from err
        relative = path.name if path == root else os.path.relpath(path, root)
        lines.append(f"{relative}\t{stat.st_size}\t{digest}\n")
    if cache_file is not None and len(cache) != before:
        _save_cache(cache_file, cache)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _load_cache(cache_file) -> dict:
    if cache_file is None:
        return _MEMORY
    if not Path(cache_file).is_file():
        return {}
    try:
        return dict(json.loads(Path(cache_file).read_text()))
    except (OSError, ValueError, TypeError):  # a damaged cache is only a slower start
        return {}


def _save_cache(cache_file, cache: dict) -> None:
    from rethinkgen.io import atomic_path

    path = Path(cache_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(cache))
    except OSError:  # a read-only working directory: hash again next time
        pass


@functools.lru_cache(maxsize=None)
def _digest_of(spec_json: str, cache_file: str | None) -> str:
    try:
        return content_digest(json.loads(spec_json), cache_file)
    except (DatasetUnavailableError, DatasetCorruptError) as err:
        # The workflow's own checks (rethinkgen.user_inputs) refuse such a dataset first;
        # a reader such as `rethinkgen status` then sees an identity no run was trained on.
        return f"unreadable: {err}"


def with_content_digest(spec: dict) -> dict:
    """A dataset spec, with ``content_sha256`` added for user data (built-ins unchanged).

    Memoized per process (the workflow asks once per run while building its DAG): a
    process that changes the files afterwards must call ``forget_digests()``."""
    if spec.get("name") not in USER_DATA_SOURCES or "root" not in spec:
        return spec
    cache = str(DEFAULT_CACHE) if DEFAULT_CACHE.parent.parent.is_dir() else None
    return {**spec, DIGEST_KEY: _digest_of(json.dumps(spec, sort_keys=True), cache)}


def forget_digests() -> None:
    _digest_of.cache_clear()
