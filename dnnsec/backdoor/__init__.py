"""Backdoor attacks on image classifiers (the attack side that defences and watermarks are tested against).

- :mod:`~dnnsec.backdoor.dct`: blockwise 8x8 orthonormal DCT-II/III.
- :mod:`~dnnsec.backdoor.triggers`: DCT steganographic, patch (BadNets), blended and physical-style triggers.
- :mod:`~dnnsec.backdoor.poison`: attack objects that poison a data set and report their metrics.
- :mod:`~dnnsec.backdoor.codecs`: JPEG, JPEG 2000 and WEBP round trips through Pillow.
- :mod:`~dnnsec.backdoor.physical`: random and held (fixed) physical transformation pipelines in torch.
- :mod:`~dnnsec.backdoor.train`: backdoor training on ``shared.trainer`` with the zoo recipes.
- :mod:`~dnnsec.backdoor.metrics`: attack success rate, PSNR, SSIM.

Targets: ``docs/acceptance.md#backdoor-attacks``; measured figures: ``docs/results.md#backdoor-attacks``.

Usage, in the spirit of ART's poisoning attacks::

    from dnnsec.backdoor.data import load_pixels
    from dnnsec.backdoor.poison import make_attack
    from dnnsec.backdoor.train import train_backdoor

    train, test = load_pixels("mnist", "train"), load_pixels("mnist", "test")
    attack = make_attack("dct-n2n", train.num_classes, train.channels, poison_rate=0.1, n_triggers=4)
    poisoned = attack.poison(train, seed=0)          # images, labels, poisoned indices, trigger of each
    model, poisoned, record = train_backdoor(attack, "mnist_cnn", train, seed=0)
    metrics = attack.evaluate(model, test)           # clean accuracy, ASR / PSNR / SSIM per trigger

The command line is ``dnnsec attack NAME`` (:mod:`dnnsec.backdoor.cli`). This module imports nothing heavy.
"""

#: Names of the attacks (:func:`dnnsec.backdoor.poison.make_attack`, ``dnnsec attack NAME``).
ATTACKS = ("dct-n2n", "dct-n2one", "dct", "compression", "badnets", "blended", "physical", "ptb")
