"""The whole item in view: a tile's scores follow distant parts of its item only through the
overview branch; overviews keep an item's shape, turn with their tiles and reach training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.items.overview import OVERVIEW_PX, item_overview
from models.subcomponent.items import ItemSubcomponentModel
from study.config import AugmentConfig
from study.items.tiles import TileBatch, augment

AIR = (0.0, 0.0, 0.0)  # hlz_log: air reads 0


def _long_item() -> tuple[torch.Tensor, torch.Tensor]:
    """A 64×192 item crop (hlz_log) with a few parts along it, and its mask."""
    torch.manual_seed(3)
    image = torch.zeros(3, 64, 192)
    mask = torch.zeros(64, 192, dtype=torch.bool)
    mask[4:60, 4:188] = True
    image[:2, 4:60, 4:188] = 0.3
    image[:2, 20:40, 20:50] += 0.5  # a part near the tile
    image[:2, 10:50, 140:180] += 0.8  # a part far from it
    image[2] = torch.where(mask, 12.0, 0.0)
    return image, mask


def _tile_probs(model: ItemSubcomponentModel, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The superpixel probabilities of the tile at the item's left end (columns 0..63), the tile
    judged with the whole item's overview."""
    tile, tile_mask = image[None, :, :, :64], mask[None, :, :64]
    overview = item_overview(image, mask, AIR)[None]
    with torch.no_grad():
        return model(model.assemble(tile, tile_mask), tile_mask, overviews=overview).probs


@pytest.mark.parametrize("overview", [True, False])
def test_a_tiles_score_follows_distant_parts_of_its_item_only_through_the_overview(overview):
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", backbone="mobilenet_v3_small_050", n_superpixels=30,
                                  overview=overview).eval()
    if overview:  # a trained branch: its modulation no longer zero (a fresh one leaves features be)
        torch.nn.init.normal_(model.overview.film.weight, std=0.5)
    image, mask = _long_item()
    changed = image.clone()
    changed[:2, 10:50, 140:180] = 0.3  # the far part taken out: nothing within the tile changes
    assert torch.equal(changed[:, :, :64], image[:, :, :64])
    before, after = _tile_probs(model, image, mask), _tile_probs(model, changed, mask)
    assert before.shape == after.shape
    assert (float((before - after).abs().max()) > 1e-4) == overview


def test_a_fresh_branch_leaves_the_features_as_they_were_and_whole_items_are_their_own_overview():
    torch.manual_seed(0)
    plain = ItemSubcomponentModel(modality="hlz_log", backbone="mobilenet_v3_small_050", n_superpixels=30)
    torch.manual_seed(0)
    viewing = ItemSubcomponentModel(modality="hlz_log", backbone="mobilenet_v3_small_050",
                                    n_superpixels=30, overview=True)
    missing = set(viewing.state_dict()) - set(plain.state_dict())
    assert missing and all(k.startswith("overview.") for k in missing)
    viewing.load_state_dict({**viewing.state_dict(), **plain.state_dict()})
    plain.eval(), viewing.eval()
    image, mask = _long_item()
    with torch.no_grad():
        a = plain(plain.assemble(image[None], mask[None]), mask[None]).probs
        b = viewing(viewing.assemble(image[None], mask[None]), mask[None]).probs  # its own overview
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="pool mode"):
        ItemSubcomponentModel(modality="hlz_log", mode="crop", overview=True)


def test_an_overview_keeps_the_items_shape_and_turns_with_its_tile():
    image, mask = _long_item()
    view = item_overview(image, mask, AIR)
    assert view.shape == (4, OVERVIEW_PX, OVERVIEW_PX)
    rows = torch.nonzero(view[3].amax(1) > 0.5).flatten()
    cols = torch.nonzero(view[3].amax(0) > 0.5).flatten()
    assert cols.numel() == OVERVIEW_PX and rows.numel() == pytest.approx(OVERVIEW_PX * 56 / 184, abs=2)
    assert float(view[:2, :, 48:].mean()) > float(view[:2, :, :16].mean())  # the far part, shrunk
    assert (view[:, :int(rows[0])] == 0).all()  # outside the item: nothing
    # augmentation turns each tile's overview with the tile
    b = 6
    batch = TileBatch(torch.rand(b, 3, 16, 16), torch.ones(b, 16, 16, dtype=torch.bool),
                      torch.zeros(b, 16, 16, dtype=torch.bool), torch.zeros(b, 16, 16, dtype=torch.long),
                      torch.full((b,), 256.0), None, torch.stack([view] * b))
    batch.images[:] = 0
    batch.images[:, :, 0, 0] = 1.0  # a corner marks each tile's turn
    batch.overviews[:, :, 0, 0] = 5.0  # and the same corner of its overview
    out = augment(batch, AugmentConfig(rotate=True, gain=0, noise=0, mask_px=0), AIR,
                  torch.Generator().manual_seed(1))
    for i in range(b):
        corner = np.unravel_index(int(out.images[i, 0].argmax()), (16, 16))
        seen = np.unravel_index(int(out.overviews[i, 0].argmax()), (OVERVIEW_PX, OVERVIEW_PX))
        assert tuple(c // 15 for c in corner) == tuple(s // (OVERVIEW_PX - 1) for s in seen)
