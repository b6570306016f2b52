"""ONNX Runtime in the place of a model's networks: the overview and class-context branches and
the item head export too, and the item's superpixel scores stay PyTorch's."""

from __future__ import annotations

import copy

import torch

from models.items.scan import item_superpixels
from models.model_dir import ModelDirectory
from models.onnx_networks import OnnxNetwork, capture_inputs, networks_of, use_onnx, write_onnx
from models.subcomponent.items import ItemSubcomponentModel


def test_every_branch_runs_in_onnx_runtime_with_pytorchs_scores(tmp_path):
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", backbone="mobilenet_v3_small_050", mode="pool",
                                  n_superpixels=12, item_input="frame", small_anomalies=True, overview=True,
                                  class_context=("laptop", "mobile")).eval()
    with torch.no_grad():  # a branch at its zero start changes nothing: give each one weights
        for branch in (model.overview.film, model.class_context.film):
            for p in branch.parameters():
                p.normal_(0, 0.1)
    image, mask = torch.rand(3, 40, 56), torch.zeros(40, 56, dtype=torch.bool)
    mask[5:35, 8:50] = True
    before, _ = item_superpixels(model, image, mask, item_class="mobile")
    networks = networks_of(model)
    assert set(networks) == {"model.dense", "model.pixel_head", "model.head", "model.overview",
                             "model.class_context"}
    inputs = capture_inputs(networks, lambda: item_superpixels(model, image, mask, item_class="laptop"))
    directory = ModelDirectory(str(tmp_path))
    write_onnx(directory, networks, inputs)
    onnx_model = copy.deepcopy(model)
    use_onnx(directory, onnx_model, None)
    assert isinstance(onnx_model.dense.network, OnnxNetwork) and isinstance(onnx_model.head, OnnxNetwork)
    # another size and class than the traced ones: sizes are dynamic, the class an input
    after, _ = item_superpixels(onnx_model, image, mask, item_class="mobile")
    assert torch.equal(after.labels, before.labels)
    torch.testing.assert_close(after.probs, before.probs, rtol=0, atol=1e-5)
    wider = torch.rand(3, 72, 40), torch.ones(72, 40, dtype=torch.bool)
    scores = [item_superpixels(m, *wider, item_class="laptop")[0].probs for m in (onnx_model, model)]
    torch.testing.assert_close(*scores, rtol=0, atol=1e-5)
