"""Theorem 1 construction: exact fit with 2n + d weights (docs/paper.md, check 26)."""

import numpy as np
import pytest
import torch

from rethinkgen.theory.expressivity import (
    TwoLayerReLUInterpolant,
    choose_projection,
    deduplicate_images,
    expressivity_markdown,
    expressivity_rows,
    fit_two_layer_interpolant,
    interleaving_biases,
    num_weights,
    solve_interleaved_system,
)


@pytest.mark.parametrize("n,d", [(1, 3), (50, 2), (500, 20), (3000, 64)])
def test_fits_random_targets_exactly(n, d):
    rng = np.random.default_rng(n + d)
    points, targets = rng.standard_normal((n, d)), rng.standard_normal(n)
    fit = fit_two_layer_interpolant(
        points, targets, choose_projection(points, rng), bias_gap_fraction=0.1
    )
    outputs = fit.model(torch.from_numpy(points)).numpy()
    assert outputs.shape == (n,)
    np.testing.assert_allclose(
        outputs, targets, rtol=0, atol=1e-6 * max(1.0, np.abs(targets).max())
    )
    assert num_weights(fit.model) == 2 * n + d


def test_multiple_target_columns_share_projection_and_biases():
    rng = np.random.default_rng(1)
    points, targets = rng.standard_normal((200, 5)), rng.standard_normal((200, 3))
    fit = fit_two_layer_interpolant(points, targets, choose_projection(points, rng))
    np.testing.assert_allclose(fit.model(torch.from_numpy(points)).numpy(), targets, atol=1e-8)
    assert num_weights(fit.model) == 5 + 200 + 3 * 200


def test_system_is_lower_triangular_with_diagonal_gaps():
    rng = np.random.default_rng(2)
    x = np.sort(rng.standard_normal(40))
    b = interleaving_biases(x, 0.1)
    assert np.all(b < x) and np.all(b[1:] > x[:-1])  # b_1 < x_1 < b_2 < ... < b_n < x_n
    a = np.maximum(x[:, None] - b[None, :], 0.0)
    np.testing.assert_array_equal(np.triu(a, 1), 0.0)
    np.testing.assert_allclose(np.linalg.eigvals(a).real.min(), (x - b).min(), rtol=1e-10)
    y = rng.standard_normal(40)
    np.testing.assert_allclose(
        solve_interleaved_system(x, b, y), np.linalg.solve(a, y), rtol=1e-8, atol=1e-8
    )


def test_blocked_solve_crosses_block_boundaries(monkeypatch):
    import rethinkgen.theory.expressivity as expressivity

    monkeypatch.setattr(expressivity, "_ROW_BLOCK", 7)
    monkeypatch.setattr(expressivity, "_COLUMN_CHUNK", 5)
    rng = np.random.default_rng(3)
    points, targets = rng.standard_normal((60, 4)), rng.standard_normal(60)
    fit = fit_two_layer_interpolant(points, targets, choose_projection(points, rng))
    np.testing.assert_allclose(fit.model(torch.from_numpy(points)).numpy(), targets, atol=1e-8)


def test_min_diagonal_is_smallest_gap_term():
    rng = np.random.default_rng(4)
    points = rng.standard_normal((100, 3))
    projection = choose_projection(points, rng)
    fit = fit_two_layer_interpolant(
        points, rng.standard_normal(100), projection, bias_gap_fraction=0.25
    )
    x = np.sort(points @ projection)
    assert fit.min_diagonal == pytest.approx(0.75 * np.diff(x).min(), rel=1e-9)


def test_tied_projections_raise_clear_error():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((20, 4))
    points[7] = points[3]
    with pytest.raises(ValueError, match="share a projection.*points 3 and 7"):
        fit_two_layer_interpolant(points, rng.standard_normal(20), rng.standard_normal(4))


def test_bias_fraction_must_lie_strictly_inside_gap():
    with pytest.raises(ValueError, match="bias_gap_fraction"):
        interleaving_biases(np.arange(5.0), 1.0)


def test_forward_matches_definition_at_new_points():
    rng = np.random.default_rng(6)
    a, b, w = (torch.from_numpy(rng.standard_normal(s)) for s in (3, 9, 9))
    model = TwoLayerReLUInterpolant(a, b, w)
    x = torch.from_numpy(rng.standard_normal((11, 3)))
    expected = torch.relu((x @ a)[:, None] - b[None, :]) @ w
    torch.testing.assert_close(model(x), expected)


def test_deduplicate_images_keeps_first_copies():
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (10, 4, 4, 1), dtype=np.uint8)
    images[8] = images[2]
    images[9] = images[2]
    keep, dropped = deduplicate_images(images)
    assert dropped == 2
    np.testing.assert_array_equal(keep, np.arange(8))


def test_expressivity_rows_handle_duplicates_and_fit_labels():
    rng = np.random.default_rng(8)
    images = rng.integers(0, 256, (300, 6, 6, 1), dtype=np.uint8)
    images[100:110] = images[0]  # ten exact duplicates, as real datasets contain
    table = expressivity_rows(
        "toy", images, num_classes=10, sample_sizes=[50, "all"], bias_gap_fractions=[0.1], seed=0
    )
    assert list(table["n"]) == [50, 50, 290, 290]
    assert (table["n_duplicates_dropped"] == 10).all()
    assert (table["num_parameters"] == 36 + 2 * table["n"]).all()
    assert table["max_abs_residual"].max() < 1e-6
    assert table.loc[table["target"] == "labels", "label_accuracy"].eq(1.0).all()
    assert "Theorem 1" in expressivity_markdown(table)
