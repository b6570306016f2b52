"""Transfer learning from weight files in torchvision's own layouts, written here (nothing downloads):
into the crop-mode classifiers, the U-Net encoders, the unet finder and Mask R-CNN, the first
convolution adapted to the modality by one rule, class-specific predictors started afresh."""

from __future__ import annotations

import pytest
import torch
from torchvision import models as tvm
from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

from models.backbones import build_backbone
from models.items.finders import MaskRCNNFinder, UNetFinder
from models.items.stage import build_finder
from models.maskrcnn.model import build_detector
from models.subcomponent.dense import DenseFeatures
from models.weight_files import adapt_conv_weight


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(1)
    model = tvm.resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def test_the_first_convolution_is_adapted_by_one_rule():
    weight = torch.randn(8, 3, 3, 3)
    pixel = torch.rand(1, 1, 3, 3)  # a grey patch: its channels are equal
    assert torch.equal(adapt_conv_weight(weight, 3), weight)
    one = adapt_conv_weight(weight, 1)  # timm's adapt_input_conv, smp's patch_first_conv: the sum
    torch.testing.assert_close(one, weight.sum(1, keepdim=True))
    torch.testing.assert_close((one * pixel).sum((1, 2, 3)), (weight * pixel).sum((1, 2, 3)))
    six = adapt_conv_weight(weight, 6)  # R, G, B, R, G, B, each at half strength
    torch.testing.assert_close(six, torch.cat([weight, weight], 1) / 2)
    torch.testing.assert_close((six * pixel).sum((1, 2, 3)), (weight * pixel).sum((1, 2, 3)))
    # an item input's mask and frame channels start at zero: the image channels see what they saw
    framed = adapt_conv_weight(weight, 1 + 5, extra_channels=5)
    torch.testing.assert_close(framed[:, :1], one)
    assert torch.equal(framed[:, 1:], torch.zeros(8, 5, 3, 3))
    with pytest.raises(ValueError, match="none for the image"):
        adapt_conv_weight(weight, 2, extra_channels=2)


@pytest.mark.parametrize("item_input", ["context", "frame"])
@pytest.mark.parametrize(("pipeline", "mode"), [("subcomponent", "crop"), ("subcomponent", "pool"),
                                                ("object", "crop")])
@pytest.mark.parametrize("modality", ["high", "high+low"])  # high+low with context: 2 + 1, the file's 3
def test_an_item_inputs_mask_and_frame_channels_start_at_zero(resnet18_file, pipeline, mode, item_input,
                                                              modality):
    from models.catalog import PIPELINES
    from models.spec import ModelSpec

    path, state = resnet18_file
    spec = ModelSpec(pipeline=pipeline, backbone="resnet18", modality=modality, mode=mode, k=20,
                     item_input=item_input, weights=str(path))
    model = PIPELINES[pipeline].build(spec)
    conv = model.dense.encoder.conv1 if mode == "pool" else model.backbone.features[0]
    extra, image = model.input.extra_channels, 1 if modality == "high" else 2
    assert conv.in_channels == image + extra and extra >= 1
    torch.testing.assert_close(conv.weight[:, :image], adapt_conv_weight(state["conv1.weight"], image))
    assert not conv.weight[:, image:].any()


def test_a_torchvision_resnet_starts_the_classifier_and_the_dense_encoder(resnet18_file):
    path, state = resnet18_file
    crop = build_backbone("resnet18", in_channels=1, weights=path)  # the crop mode's classifier, high
    torch.testing.assert_close(crop.features[0].weight, state["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(crop.features[4][0].conv1.weight, state["layer1.0.conv1.weight"])
    for channels in (3, 1, 6):  # hlz, high, pseudo+hlz
        dense = DenseFeatures("resnet18", channels, [0.0] * channels, weights=path)
        torch.testing.assert_close(dense.encoder.conv1.weight,
                                   adapt_conv_weight(state["conv1.weight"], channels))
        torch.testing.assert_close(dense.encoder.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    finder = UNetFinder(modality="hlz_log", encoder="resnet18", weights=path)  # the light finder's encoder
    torch.testing.assert_close(finder.net.encoder.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])
    own = path.parent / "finder.pt"
    torch.save(finder.state_dict(), own)  # and the finder's own state dict, decoder included
    torch.testing.assert_close(UNetFinder(modality="hlz_log", encoder="resnet18", weights=own)
                               .net.decoder.state_dict(), finder.net.decoder.state_dict())


def test_the_papers_plain_vgg16_beside_vgg16_bn(tmp_path):
    torch.manual_seed(2)
    vgg = tvm.vgg16(weights=None)
    path = tmp_path / "vgg16.pth"
    torch.save(vgg.state_dict(), path)
    classifier = build_backbone("vgg16", in_channels=3, weights=path)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in classifier.modules())  # plain VGG-16
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in build_backbone("vgg16_bn").modules())
    torch.testing.assert_close(classifier.features[28].weight, vgg.features[28].weight)
    dense = DenseFeatures("vgg16", 1, [1.0], weights=path)
    torch.testing.assert_close(dense.encoder.features[0].weight, vgg.features[0].weight.sum(1, keepdim=True))
    with pytest.raises(ValueError, match=r"vgg16\.pth' does not match the backbone 'vgg16_bn'"):
        build_backbone("vgg16_bn", weights=path)


def test_mask_rcnn_starts_from_a_coco_checkpoint_with_its_class_predictors_afresh(tmp_path):
    torch.manual_seed(3)
    coco = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)  # COCO's layout
    path = tmp_path / "maskrcnn_resnet50_fpn_v2_coco.pth"
    torch.save(coco.state_dict(), path)
    state = coco.state_dict()
    detector = build_detector(modality="high", min_size=64, max_size=64, weights=path)
    loaded = detector.state_dict()
    torch.testing.assert_close(loaded["backbone.body.conv1.weight"],
                               state["backbone.body.conv1.weight"].sum(1, keepdim=True))
    for key in ("backbone.body.layer3.2.conv2.weight", "backbone.fpn.layer_blocks.0.0.weight",
                "rpn.head.conv.0.0.weight", "roi_heads.box_head.0.0.weight",
                "roi_heads.mask_head.0.0.weight"):
        torch.testing.assert_close(loaded[key], state[key])
    assert loaded["roi_heads.box_predictor.cls_score.weight"].shape == (2, 1024)  # {background, item}
    assert loaded["roi_heads.mask_predictor.mask_fcn_logits.weight"].shape[0] == 2
    # the paper's item finder takes it through the item stage's config (items.weights)
    finder = build_finder({"name": "maskrcnn", "kwargs": {"modality": "pseudo", "image_size": 64}}, str(path))
    assert isinstance(finder, MaskRCNNFinder)
    torch.testing.assert_close(finder.detector.state_dict()["rpn.head.conv.0.0.weight"],
                               state["rpn.head.conv.0.0.weight"])
