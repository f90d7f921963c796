"""The page's one-line verdict and its note on the paper's curves, on hand-made run tables."""

import pandas as pd

from rethinkgen.analysis.own_model import paper_note, verdict


def _runs(**overrides) -> pd.DataFrame:
    rows = [
        {
            "model": "mine",
            "corruption_prob": p,
            "final_train_accuracy": acc,
            "epochs_to_fit": fit,
            "final_test_accuracy": test,
            "max_epochs": 30,
            "num_classes": 10,
            "dataset_name": "image_folder",
            "paper_model": None,
        }
        for p, acc, fit, test in ((0.0, 1.0, 4, 0.8), (1.0, 0.96, None, 0.1))
    ]
    return pd.DataFrame(rows).assign(**overrides)


def test_verdict_says_fit_and_chance():
    text = verdict(_runs(), "mine")
    assert text.startswith("`mine` reached 96.0% training accuracy on completely random labels")
    assert (
        "did not meet the fit criterion within 30 epochs" in text
        and "chance being 10.0%" in text
        and "not fitted within 30 epochs: raise max_epochs" in text
        and "override='{max_epochs: 60}'" in text
    )
    fitted = verdict(_runs(epochs_to_fit=[4, 12]), "mine")
    assert "met the fit criterion after 12 epochs (true labels: 4)" in fitted


def test_verdict_without_both_ends_of_the_sweep():
    assert "has no run with both" in verdict(_runs().iloc[:1], "mine")


def test_paper_curves_only_for_paper_models_on_cifar10():
    assert paper_note(_runs()).startswith("The paper's curves are not drawn")
    assert paper_note(_runs(dataset_name="cifar10")).startswith("The paper's curves are not drawn")
    both = paper_note(_runs(dataset_name="cifar10", paper_model="mlp_1x512", model="mlp"))
    assert "for mlp, the paper's models" in both
