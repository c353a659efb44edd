"""Attacks used against the watermark: exact effects checked directly on small models."""

from __future__ import annotations

import torch
from torch import nn

from dnnsec.attacks.extraction import remove_extra_output
from dnnsec.attacks.fineprune import fine_prune
from dnnsec.attacks.query_modification import QueryModifier
from dnnsec.autoencoder import ConvAutoencoder, train_autoencoder
from dnnsec.watermark.adapter import LinearHead
from dnnsec.watermark.baselines import LOGO_SIZE, stamp_logo
from dnnsec.zoo.models import MnistCNN


def test_removing_the_extra_output_keeps_the_other_logits_exactly() -> None:
    torch.manual_seed(0)
    model = LinearHead().widen(MnistCNN(width=4)).eval()
    x = torch.randn(5, 1, 28, 28)
    cut = remove_extra_output(model, LinearHead())
    assert LinearHead().num_outputs(cut) == 10
    assert torch.equal(cut(x), model(x)[:, :10])


class _Zero(nn.Module):
    """An 'autoencoder' that reconstructs everything as zeros: reconstruction error = mean square of the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_query_modifier_flags_inputs_above_the_clean_quantile_and_replaces_them() -> None:
    g = torch.Generator().manual_seed(0)
    clean = 0.1 * torch.randn(1000, 1, 4, 4, generator=g)
    qm = QueryModifier.fit(_Zero(), clean, quantile=0.99)
    errors = (clean**2).flatten(1).mean(1)
    assert qm.threshold == torch.quantile(errors, 0.99).item()
    keys = 3.0 + torch.randn(7, 1, 4, 4, generator=g)
    mixed = torch.cat([keys, clean[:5] * 0.0 + 0.01])
    out, flagged = qm(mixed)
    assert flagged.tolist() == [True] * 7 + [False] * 5
    assert torch.equal(out[:7], torch.zeros_like(out[:7])) and torch.equal(out[7:], mixed[7:])


def test_autoencoder_code_is_smaller_than_the_image() -> None:
    ae = ConvAutoencoder(1, 28, 28, width=16, latent=32)
    x = torch.randn(3, 1, 28, 28)
    assert ae.encoder(x).shape == (3, 32) and ae(x).shape == x.shape


def _bars(n: int, generator: torch.Generator) -> torch.Tensor:
    """Clean 1 x 16 x 16 images: one bright vertical bar at a random column on a dark background."""
    x = torch.full((n, 1, 16, 16), -0.5)
    cols = torch.randint(0, 6, (n,), generator=generator)
    for i, c in enumerate(cols.tolist()):
        x[i, :, :, c] = 2.0
    return x


def test_undercomplete_autoencoder_drops_a_stamped_logo() -> None:
    """Trained on clean bar images only, it reconstructs bars well, flags a logo-stamped bar by its error, and its
    reconstruction no longer shows the logo (ink pixels pulled back towards the background)."""
    g = torch.Generator().manual_seed(0)
    clean = _bars(2000, g)
    ae = train_autoencoder(clean, steps=300, width=4, latent=4, seed=0)
    qm = QueryModifier.fit(ae, _bars(500, g), quantile=0.99)
    probe = _bars(20, g)
    stamped = stamp_logo(probe, ink=2.0)
    out, flagged = qm(torch.cat([probe, stamped]))
    assert not flagged[:20].any() and flagged[20:].all()
    ink = stamped != probe  # the logo pixels that differ from the clean bar image
    corner = (slice(None), slice(None), slice(-LOGO_SIZE - 1, -1), slice(-LOGO_SIZE - 1, -1))
    assert ink[corner].any()
    restored = out[20:]
    # at the logo's ink pixels the modified query is far from the ink (2.0) and close to the clean image (-0.5)
    assert float((restored[ink] - probe[ink]).abs().mean()) < 0.5 * float((stamped[ink] - probe[ink]).abs().mean())


def test_fine_pruned_features_stay_removed(trained_mlp, blobs_train) -> None:
    x, y = blobs_train
    pruned = fine_prune(trained_mlp, "3", x, y, fraction=0.5, lr=1e-2, steps=30)
    dead = (pruned[3].weight == 0).all(0)
    assert int(dead.sum()) == 16  # half of the 32 hidden features
    assert not (trained_mlp[3].weight == 0).all(0).any()  # the original is untouched
