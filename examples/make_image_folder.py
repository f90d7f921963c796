"""Make an ImageFolder (train/<class>/*.png, test/<class>/*.png) from Fashion-MNIST.

    python examples/make_image_folder.py --out resources/fashion_folder --n-train 500 --n-test 200

A seeded, class-stratified subset of the IDX files (default /usr/share/datasets/fashion-mnist),
written as 28x28 greyscale PNGs: the worked example of docs/own-model.md.
"""

import argparse

import numpy as np

from rethinkgen.data.idx import FASHION_MNIST, prepare_idx
from rethinkgen.data.own import export_image_folder
from rethinkgen.data.sources import stratified_subset_indices

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", required=True, help="folder to create (train/ and test/ inside)")
parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist", help="the IDX files")
parser.add_argument("--n-train", type=int, default=500)
parser.add_argument("--n-test", type=int, default=200)
parser.add_argument("--seed", type=int, default=0, help="seed of the stratified subsets")
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
train, test = prepare_idx(FASHION_MNIST, args.root, download=False)
for name, split, n in (("train", train, args.n_train), ("test", test, args.n_test)):
    written = export_image_folder(
        split.subset(stratified_subset_indices(split.labels, n, rng)), args.out, name
    )
    print(f"{args.out}/{name}: {written} images in {split.num_classes} class folders")
