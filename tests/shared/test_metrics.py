import numpy as np
import pytest

from shared.metrics import (
    binary_confusion,
    binary_scores,
    confusion_matrix,
    multiclass_accuracy,
    per_class_accuracy,
    pr_auc,
    roc_auc,
)


def test_confusion_matches_hand_count():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [1, 0, 1, 1, 0, 0, 0, 1]
    c = binary_confusion(y, p)
    assert (c.tp, c.fp, c.fn, c.tn) == (3, 1, 1, 3)
    s = binary_scores(y, p)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert s["accuracy"] == pytest.approx(6 / 8)
    assert s["iou"] == pytest.approx(3 / 5)
    np.testing.assert_array_equal(c.as_matrix(), [[3, 1], [1, 3]])


def test_no_positives_anywhere_is_perfect_agreement():
    s = binary_scores(np.zeros(10, bool), np.zeros(10, bool))
    assert s["precision"] == s["recall"] == s["f1"] == s["iou"] == s["accuracy"] == 1.0


def test_no_true_positives_but_false_alarms():
    s = binary_scores([0, 0, 0, 0], [1, 0, 1, 0])
    assert s["tp"] == 0 and s["fp"] == 2
    assert s["precision"] == 0.0 and s["f1"] == 0.0 and s["iou"] == 0.0
    assert s["recall"] == 0.0  # zero_division: no positives to recall
    assert s["accuracy"] == 0.5


def test_all_positives_predicted_positive():
    s = binary_scores([1, 1, 1], [1, 1, 1])
    assert s["precision"] == s["recall"] == s["f1"] == s["accuracy"] == 1.0


def test_all_positive_truth_none_predicted():
    s = binary_scores([1, 1, 1], [0, 0, 0])
    assert s["recall"] == 0.0 and s["precision"] == 0.0 and s["accuracy"] == 0.0


def test_roc_auc_and_average_precision_hand_computed():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    # pairs (pos, neg): (0.35>0.1), (0.35<0.4), (0.8>0.1), (0.8>0.4) -> 3/4
    assert roc_auc(y, s) == pytest.approx(0.75)
    # ranked: 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-): AP = 0.5 * 1 + 0.5 * 2/3
    assert pr_auc(y, s) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_roc_auc_ties_count_half():
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


def test_auc_undefined_with_one_class():
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert np.isnan(pr_auc([0, 0], [0.2, 0.3]))


def test_multiclass_confusion_and_per_class():
    y = [0, 0, 1, 2, 2, 2]
    p = [0, 1, 1, 2, 0, 2]
    cm = confusion_matrix(y, p, 4)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 1
    expected[2, 2] = 2
    expected[2, 0] = 1
    np.testing.assert_array_equal(cm, expected)
    assert multiclass_accuracy(y, p) == pytest.approx(4 / 6)
    pc = per_class_accuracy(y, p, 4)
    np.testing.assert_allclose(pc[:3], [0.5, 1.0, 2 / 3])
    assert np.isnan(pc[3])


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="0/1"):
        binary_confusion([0, 2], [0, 1])
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 5], [0, 1], 3)
