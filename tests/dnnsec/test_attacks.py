"""Attack tools: pruning zeroes exactly the smallest weights, rankings find planted outliers, masks hold."""

from __future__ import annotations

import copy

import torch
from torch import nn

from dnnsec.attacks.finetune import finetune, refit_classifier
from dnnsec.attacks.prune import global_magnitude_prune, prunable
from dnnsec.attacks.ranking import hits_in_top_k, parameter_scores, top_k_positions
from tests.dnnsec.conftest import accuracy


def test_global_pruning_zeroes_the_smallest_fraction():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    weights = torch.cat([w.detach().abs().flatten() for w in prunable(model).values()])
    threshold = torch.sort(weights).values[int(0.3 * weights.numel()) - 1]
    n = global_magnitude_prune(model, 0.3)
    after = torch.cat([w.detach().flatten() for w in prunable(model).values()])
    assert n == round(0.3 * weights.numel()) == int((after == 0).sum())
    assert torch.all(weights[after == 0] <= threshold) and torch.all(weights[after != 0] >= threshold)
    assert torch.count_nonzero(model[0].bias) == 20  # biases untouched


def test_top_k_positions_find_planted_values():
    scores = {"a": torch.zeros(3, 4), "b": torch.zeros(7)}
    scores["a"][1, 2] = 5.0
    scores["b"][6] = 9.0
    assert top_k_positions(scores, 2) == {("a", 6), ("b", 6)}
    assert hits_in_top_k(scores, {("a", 6), ("b", 0)}, 2) == 1


def test_layer_z_score_flags_an_outlier(trained_mlp, blobs_train):
    model = copy.deepcopy(trained_mlp)
    with torch.no_grad():
        model[0].weight.view(-1)[17] = 50.0
    x, y = blobs_train
    scores = parameter_scores(model, x[:200], y[:200])
    assert ("0.weight", 17) in top_k_positions(scores["layer_z"], 1)
    assert ("0.weight", 17) in top_k_positions(scores["abs_w"], 1)


def test_masked_finetune_changes_only_masked_values(trained_mlp, blobs_train):
    model = copy.deepcopy(trained_mlp)
    before = {k: v.clone() for k, v in model.named_parameters()}
    masks = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    masks["3.weight"].view(-1)[:5] = 1.0
    x, y = blobs_train
    finetune(model, x[:256], y[:256], steps=5, lr=0.1, grad_mask=masks)
    for n, p in model.named_parameters():
        changed = (p.detach() != before[n]).view(-1)
        assert not changed[masks[n].view(-1) == 0].any(), n
    assert (model.get_parameter("3.weight").detach() != before["3.weight"]).any()


def test_refit_classifier_changes_only_the_head(trained_mlp, blobs_train, blobs_test):
    model = copy.deepcopy(trained_mlp)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = blobs_train
    refit_classifier(model, "3", x[:500], y[:500], steps=60, lr=0.05)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) != k.startswith("3."), k
    assert accuracy(model, *blobs_test) > 0.9  # the features are intact, so a refitted head works
