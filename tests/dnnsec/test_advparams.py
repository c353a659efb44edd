"""AdvParams search: few parameters, values inside each layer's 1st-99th percentile, accuracy wrecked."""

from __future__ import annotations

import copy

import torch

from dnnsec.protect.advparams import percentile_bounds, search_perturbations, wrong_margin_objective
from tests.dnnsec.conftest import accuracy


def test_margin_objective_matches_hand_computation():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 5.0, 1.0]])
    y = torch.tensor([0, 0])
    # sample 0: max other 1 - 3 = -2; sample 1: 5 - 0 = 5, capped at 2 -> mean 0
    assert float(wrong_margin_objective(logits, y, margin_cap=2.0)) == 0.0
    assert float(wrong_margin_objective(logits, y, margin_cap=10.0)) == 1.5


def test_encryption_wrecks_accuracy_with_few_parameters(trained_mlp, blobs_train, blobs_test):
    model = copy.deepcopy(trained_mlp)
    plain = accuracy(model, *blobs_test)
    assert plain > 0.9
    x, y = blobs_train
    result = search_perturbations(model, x[:512], y[:512], n_params=50, progress=False)
    encrypted = accuracy(model, *blobs_test)
    assert 1 <= len(result.perturbations) <= 50
    assert encrypted <= 0.15, f"encrypted accuracy {encrypted} (plain {plain})"
    assert result.accuracy[0] > result.accuracy[-1]
    assert result.objective == sorted(result.objective)  # each greedy step raised the objective


def test_perturbed_values_stay_inside_layer_percentiles(trained_mlp, blobs_train):
    model = copy.deepcopy(trained_mlp)
    bounds = percentile_bounds(model)
    x, y = blobs_train
    result = search_perturbations(model, x[:256], y[:256], n_params=15, progress=False)
    params = dict(model.named_parameters())
    positions = set()
    for p in result.perturbations:
        lo, hi = bounds[p.name]
        assert lo - 1e-6 <= p.perturbed <= hi + 1e-6
        assert float(params[p.name].detach().view(-1)[p.index]) == p.perturbed
        positions.add((p.name, p.index))
    assert len(positions) == len(result.perturbations)  # no position chosen twice


def test_only_key_positions_change(trained_mlp, blobs_train):
    model = copy.deepcopy(trained_mlp)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = blobs_train
    result = search_perturbations(model, x[:256], y[:256], n_params=10, progress=False)
    chosen = {(p.name, p.index) for p in result.perturbations}
    for name, tensor in model.state_dict().items():
        diff = torch.nonzero((tensor != before[name]).view(-1)).flatten().tolist()
        assert {(name, i) for i in diff} <= chosen
