import numpy as np
import pytest
from scipy import stats

from rethinkgen.data.corruptions import (
    apply_corruption,
    corrupt_labels,
    permute_pixels,
    randomly_permute_each_image,
    split_digest,
)
from tests.conftest import make_split


def test_partial_corruption_changes_expected_fraction():
    labels = np.random.default_rng(0).integers(0, 10, 50_000)
    for p in (0.0, 0.2, 0.5, 1.0):
        changed = np.mean(corrupt_labels(labels, p, 10, np.random.default_rng(1)) != labels)
        # Replacement draws from all 10 classes, so 1/10 of redrawn labels stay the same.
        assert changed == pytest.approx(p * 0.9, abs=0.01)


def test_random_labels_are_independent_of_true_labels():
    labels = np.random.default_rng(0).integers(0, 10, 20_000)
    random = corrupt_labels(labels, 1.0, 10, np.random.default_rng(5))
    table = np.histogram2d(labels, random, bins=10)[0]
    assert stats.chi2_contingency(table).pvalue > 0.001
    assert np.all(np.bincount(random, minlength=10) > 1800)


def test_corrupt_labels_rejects_bad_probability():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt_labels(np.zeros(3, dtype=np.int64), 1.5, 10, np.random.default_rng(0))


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "random_labels", "prob": 0.3},
        {"kind": "shuffled_pixels", "splits": ["train", "test"]},
        {"kind": "random_pixels", "splits": ["train", "test"]},
        {"kind": "gaussian", "splits": ["train", "test"]},
    ],
)
def test_same_seed_bit_identical_other_seed_differs(spec):
    train, test = make_split(), make_split(n=40, seed=1)
    first = apply_corruption(spec, train, test, seed=7)
    again = apply_corruption(spec, train, test, seed=7)
    other = apply_corruption(spec, train, test, seed=8)
    assert split_digest(first.train) == split_digest(again.train)
    assert split_digest(first.test) == split_digest(again.test)
    assert first.stats["train_sha256"] == again.stats["train_sha256"]
    assert split_digest(first.train) != split_digest(other.train)


@pytest.mark.parametrize(
    "kind", ["random_labels", "shuffled_pixels", "random_pixels", "gaussian", "none"]
)
def test_no_global_random_state_touched(kind):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    import torch

    torch_before = torch.random.get_rng_state().clone()
    apply_corruption(
        {"kind": kind, "prob": 1.0} if kind == "random_labels" else {"kind": kind},
        make_split(),
        make_split(n=10, seed=1),
        seed=3,
    )
    assert np.array_equal(np.random.get_state()[1], before)
    assert torch.equal(torch.random.get_rng_state(), torch_before)


def test_label_corruption_keeps_images_and_test_labels():
    train, test = make_split(), make_split(n=40, seed=1)
    result = apply_corruption({"kind": "random_labels", "prob": 1.0}, train, test, seed=0)
    assert np.array_equal(result.train.images, train.images)
    assert np.array_equal(result.test.labels, test.labels)
    assert result.stats["test_fraction_labels_changed"] == 0.0
    assert result.stats["train_fraction_labels_changed"] == pytest.approx(0.9, abs=0.1)


def test_shuffled_pixels_one_permutation_for_all_images_in_both_splits():
    # Images whose pixel values encode their position reveal the permutation applied.
    n, h, w = 30, 6, 5
    positions = np.arange(h * w, dtype=np.uint8).reshape(1, h, w, 1)
    images = np.repeat(np.concatenate([positions, positions + 100, positions], axis=3), n, axis=0)
    train = make_split(n=n, h=h, w=w)
    train.images = images
    test = make_split(n=n, h=h, w=w, seed=2)
    test.images = images.copy()
    result = apply_corruption(
        {"kind": "shuffled_pixels", "splits": ["train", "test"]}, train, test, seed=0
    )
    perms = result.train.images[..., 0].reshape(n, -1)
    assert np.all(perms == perms[0])  # one permutation shared by all training images
    assert np.array_equal(result.test.images, result.train.images)  # and by the test set
    assert not np.array_equal(perms[0], np.arange(h * w))
    assert np.array_equal(
        result.train.images[..., 1], result.train.images[..., 0] + 100
    )  # channels together
    assert np.array_equal(np.sort(perms[0]), np.arange(h * w))


def test_random_pixels_distinct_fixed_permutation_per_image():
    n, h, w = 50, 6, 6
    images = np.repeat(np.arange(h * w, dtype=np.uint8).reshape(1, h, w, 1), n, axis=0)
    out = randomly_permute_each_image(images, np.random.default_rng(0), chunk=16)
    orders = out.reshape(n, -1)
    assert len({tuple(o) for o in orders}) == n  # every image has its own permutation
    assert all(np.array_equal(np.sort(o), np.arange(h * w)) for o in orders)
    again = randomly_permute_each_image(images, np.random.default_rng(0), chunk=7)
    assert np.array_equal(out, again)  # fixed by the seed, independent of chunking


def test_permute_pixels_is_a_bijection():
    images = make_split(n=4).images
    perm = np.random.default_rng(0).permutation(64)
    back = permute_pixels(permute_pixels(images, perm), np.argsort(perm))
    assert np.array_equal(back, images)


def test_gaussian_matches_dataset_mean_and_variance():
    rng = np.random.default_rng(0)
    images = np.clip(rng.normal([60, 120, 200], [20, 40, 30], size=(2000, 8, 8, 3)), 0, 255).astype(
        np.uint8
    )
    train = make_split(n=2000)
    train.images = images
    result = apply_corruption(
        {"kind": "gaussian", "splits": ["train", "test"]}, train, make_split(n=100), seed=0
    )
    pixels = images.reshape(-1, 3).astype(np.float64)
    fake = result.train.images.reshape(-1, 3).astype(np.float64)
    assert result.train.images.dtype == np.float32
    np.testing.assert_allclose(fake.mean(0), pixels.mean(0), rtol=0.01)
    np.testing.assert_allclose(fake.var(0), pixels.var(0), rtol=0.02)
    assert stats.normaltest(fake[:5000, 0]).pvalue > 0.001
    assert np.array_equal(result.train.labels, train.labels)


def test_label_draws_are_independent_across_p_unless_nested():
    train, test = make_split(n=4000, seed=1), make_split(n=10)
    changed = {}
    for nested in (False, True):
        for prob in (0.2, 0.6):
            spec = {"kind": "random_labels", "prob": prob, "nested": nested}
            result = apply_corruption(spec, train, test, seed=5)
            assert result.stats["draws"] == ("nested" if nested else "independent")
            changed[nested, prob] = result.train.labels != train.labels
    # nested: every label changed at p = 0.2 is also changed at 0.6 (same uniforms)
    assert not (changed[True, 0.2] & ~changed[True, 0.6]).any()
    # independent: about 0.2 * 0.9 * (1 - 0.6 * 0.9) of them are not
    escaped = (changed[False, 0.2] & ~changed[False, 0.6]).mean()
    assert 0.06 < escaped < 0.11


def test_stream_key_is_a_stable_hash_of_the_spec():
    from rethinkgen.data.corruptions import stream_key

    key, draws = stream_key({"kind": "random_labels", "prob": 0.5})
    # fixed forever: a saved corruption must not change when the code's registry does
    assert (f"{key:016x}", draws) == ("29ba69576ccb7df6", "independent")
    assert stream_key({"prob": 0.5, "kind": "random_labels"})[0] == key  # key order irrelevant
    assert key != stream_key({"kind": "random_labels", "prob": 0.4})[0]
    assert (
        stream_key({"kind": "random_labels", "prob": 0.4, "nested": True})[0]
        == stream_key({"kind": "random_labels", "prob": 0.9, "nested": True})[0]
    )
    assert stream_key({"kind": "random_pixels"})[0] != stream_key({"kind": "gaussian"})[0]
