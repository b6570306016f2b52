"""Block-form differentiable SLIC against the dense reference: grid, values, gradients, dtype."""

from __future__ import annotations

import pytest
import torch

from models.ssn.losses import compactness_loss, reconstruction_loss
from models.ssn.slic import differentiable_slic, from_blocks, gather_to_cells, make_grid, to_blocks
from testkit.dense_ssn import dense_losses, dense_slic

SHAPES = [(17, 23, 6), (32, 32, 16), (20, 9, 5), (64, 48, 40), (7, 50, 12), (5, 5, 100)]


@pytest.mark.parametrize(("height", "width", "k"), SHAPES)
def test_grid_covers_the_image_with_no_empty_cells(height, width, k):
    grid = make_grid(height, width, k)
    ph, pw = grid.padded
    assert ph >= height and pw >= width
    assert ph - height < grid.cell_h and pw - width < grid.cell_w  # every cell row holds pixels
    assert 1 <= grid.n_cells <= k  # ⌊√(kW/H)⌋·⌊√(kH/W)⌋ never exceeds k


def test_grid_follows_the_reference_formula():
    grid = make_grid(512, 512, 100)
    assert (grid.rows, grid.cols, grid.cell_h, grid.cell_w) == (10, 10, 52, 52)
    wide = make_grid(256, 1024, 100)
    assert (wide.rows, wide.cols) == (5, 20)


@pytest.mark.parametrize(("height", "width", "k"), SHAPES[:4])
def test_blocks_round_trip(height, width, k):
    grid = make_grid(height, width, k)
    x = torch.randn(2, 3, height, width)
    torch.testing.assert_close(from_blocks(to_blocks(x, grid), grid), x)


@pytest.mark.parametrize(("height", "width", "k"), SHAPES)
def test_fast_path_equals_dense_reference(height, width, k):
    torch.manual_seed(height * width + k)
    grid = make_grid(height, width, k)
    features = torch.randn(2, 4, height, width, dtype=torch.float64)
    target = torch.randint(0, 5, (2, height, width))
    fast = differentiable_slic(features, grid, 5)
    soft, centres, labels = dense_slic(features, grid, 5)
    torch.testing.assert_close(fast.centres.reshape(2, -1, 4), centres)
    assert torch.equal(fast.hard_labels(), labels)
    rcon, comp = dense_losses(soft, centres, features, target)
    torch.testing.assert_close(reconstruction_loss(fast, target), rcon)
    torch.testing.assert_close(compactness_loss(fast), comp)


def test_soft_assignment_is_the_dense_one_restricted_to_nine_cells():
    grid = make_grid(24, 30, 20)
    features = torch.randn(1, 3, 24, 30, dtype=torch.float64)
    fast = differentiable_slic(features, grid, 3)
    soft, _, _ = dense_slic(features, grid, 3)
    assert fast.soft.shape == (1, grid.rows, grid.cols, 9, grid.pixels_per_cell)  # O(N·9), not (N, K)
    # total probability mass each superpixel receives agrees
    mass = gather_to_cells((fast.soft * fast.valid[:, :, :, None]).sum(-1, keepdim=True))
    torch.testing.assert_close(mass.reshape(1, -1), soft.sum(1))


def test_gradients_equal_dense_reference():
    grid = make_grid(19, 21, 9)
    target = torch.randint(0, 4, (1, 19, 21))
    base = torch.randn(1, 4, 19, 21, dtype=torch.float64)
    fast_in = base.clone().requires_grad_(True)
    dense_in = base.clone().requires_grad_(True)
    fast = differentiable_slic(fast_in, grid, 4)
    fast_loss = reconstruction_loss(fast, target) + 0.5 * compactness_loss(fast)
    (fast_loss + fast.centres.square().mean()).backward()
    soft, centres, _ = dense_slic(dense_in, grid, 4)
    rcon, comp = dense_losses(soft, centres, dense_in, target)
    (rcon + 0.5 * comp + centres.square().mean()).backward()
    torch.testing.assert_close(fast_in.grad, dense_in.grad)


def test_gradcheck_float64():
    grid = make_grid(9, 11, 4)
    target = torch.randint(0, 3, (1, 9, 11))
    features = torch.randn(1, 3, 9, 11, dtype=torch.float64, requires_grad=True)

    def objective(x):
        assoc = differentiable_slic(x, grid, 2)
        return reconstruction_loss(assoc, target), assoc.centres

    assert torch.autograd.gradcheck(objective, (features,), eps=1e-6, atol=1e-5)


def test_clustering_stays_fp32_under_autocast():
    grid = make_grid(32, 32, 16)
    features = torch.randn(1, 5, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assoc = differentiable_slic(features.bfloat16(), grid, 3)
    assert assoc.soft.dtype == torch.float32 and assoc.centres.dtype == torch.float32


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_superpixels"):
        make_grid(10, 10, 0)
    grid = make_grid(10, 10, 4)
    with pytest.raises(ValueError, match="grid is 10×10"):
        differentiable_slic(torch.zeros(1, 3, 12, 10), grid, 1)
    with pytest.raises(ValueError, match="n_iters"):
        differentiable_slic(torch.zeros(1, 3, 10, 10), grid, 0)
