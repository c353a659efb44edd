"""Backdoor defences: detect backdoor instances and backdoored classes, and remove the backdoor.

- :mod:`~dnnsec.defence.classifier`: the model as a classifier of [0, 1] pixels, checked against the data.
- :mod:`~dnnsec.defence.perturbation`: intentional adversarial perturbation (Xue et al.): an input whose label a
  small L2 perturbation cannot change is flagged as a backdoor instance.
- :mod:`~dnnsec.defence.strip`: STRIP (Gao et al.): low entropy under superimposed clean images.
- :mod:`~dnnsec.defence.neural_cleanse`: Neural Cleanse (Wang et al.): per-class minimal trigger, MAD anomaly
  index, mitigation by unlearning.
- :mod:`~dnnsec.defence.sanitise`: remove the flagged samples of a poisoned training set and retrain; repeat with
  the retrained model's detector.
- :mod:`~dnnsec.defence.adaptive`: an adaptive attacker who trains the backdoor to be fragile under perturbation.

Every threshold is set on clean held-out data (a false-positive / false-rejection rate chosen in advance), never on
backdoor inputs. Targets: ``docs/acceptance.md#backdoor-defences``; figures: ``docs/results.md#backdoor-defences``.

Usage::

    from dnnsec.backdoor.data import load_pixels
    from dnnsec.defence.classifier import PixelClassifier
    from dnnsec.defence.perturbation import PerturbationDetector

    test = load_pixels("mnist", "test")                                   # 8-bit images, labels, standardisation
    clf = PixelClassifier.from_checkpoint("model.safetensors", test)      # checked: takes the images, gives logits
    clean = test.intensities()                                            # [0, 1]; the first half is held out
    detector = PerturbationDetector(clf, test.num_classes, budget=2.0).fit(clean[:3000])
    detector.calibrate(clean[3000:5000], fpr=0.01)                        # threshold on clean data only
    flagged, scores, l2 = detector.flag(inputs)                           # bool per input

The command line is ``dnnsec defend NAME`` (:mod:`dnnsec.defence.cli`). This module imports nothing heavy.
"""

#: Names of the defences (``dnnsec defend NAME``).
DEFENCES = ("perturbation", "strip", "neural-cleanse", "sanitise")
