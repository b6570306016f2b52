"""Every name a config may use, each registered lazily by where its code lives: a config validates
without importing torch. The modules named here build what the names stand for."""

from __future__ import annotations

from dataclasses import dataclass

from scans.registry import Lazy, Registry


@dataclass(frozen=True)
class LazyPipeline(Lazy):
    """A pipeline as a config sees it before anything is built: whether it finds items first,
    whether it over-segments into superpixels (and so reads K, λ, SSN features, mode and τ), and
    the optimizer it trains with when the space names none (the loaded pipeline has the same
    attributes)."""

    item_first: bool = False
    superpixels: bool = False
    default_optimizer: str = "sgd"


PIPELINES: Registry = Registry("pipeline")
for _name, _item_first, _superpixels, _optimizer in (
        ("subcomponent", True, True, "adamw"), ("object", True, False, "adamw"),  # the item recipe
        ("ssn", False, True, "sgd"), ("maskrcnn", False, False, "sgd")):  # the paper's
    PIPELINES.add(_name, LazyPipeline(f"models.pipelines:{_name.upper()}", _item_first, _superpixels,
                                      _optimizer))

# what a trial may train with: torch.optim's SGD (momentum), Adam and AdamW (decoupled weight decay)
OPTIMIZERS = ("sgd", "adam", "adamw")

BACKBONES: Registry = Registry("backbone")
for _name in ("squeezenet1_1", "vgg16", "vgg16_bn", "resnet18", "resnet50", "mobilenet_v3_small",
              "mobilenet_v3_small_050", "tiny"):
    BACKBONES.add(_name, Lazy(f"models.backbones:{_name.upper()}"))

# the backbones that have a segmentation-models-pytorch encoder of the same network (dense features,
# the light item finder), and that encoder's name; timm's ("tu-") build offline with random weights
DENSE_ENCODERS: Registry[str] = Registry("dense encoder")
for _name, _encoder in (("resnet18", "resnet18"), ("resnet50", "resnet50"), ("vgg16", "vgg16"),
                        ("vgg16_bn", "vgg16_bn"),
                        ("mobilenet_v3_small", "tu-mobilenetv3_small_100"),
                        ("mobilenet_v3_small_050", "tu-mobilenetv3_small_050")):
    DENSE_ENCODERS.add(_name, _encoder)

@dataclass(frozen=True)
class LazyFeatures(Lazy):
    """SSN features, and whether they have parameters to learn: λ (the compactness loss's weight)
    acts only through them (the loaded class says the same)."""

    learned: bool = True


SSN_FEATURES: Registry = Registry("SSN feature extractor")
for _name, _target, _learned in (("pixel", "PixelFeatures", False), ("paper", "PaperFeatures", True),
                                 ("paper_narrow", "PaperNarrowFeatures", True),
                                 ("smp_resnet18", "EncoderFeatures", True)):
    SSN_FEATURES.add(_name, LazyFeatures(f"models.ssn.features:{_target}", _learned))

CLASSIFY_MODES: Registry = Registry("classification mode")
for _name in ("crop", "pool"):
    CLASSIFY_MODES.add(_name, Lazy(f"models.subcomponent.modes:{_name.upper()}_MODE"))

ITEM_FINDERS: Registry = Registry("item finder")
ITEM_FINDERS.add("unet", Lazy("models.items.finders:UNetFinder"))
ITEM_FINDERS.add("maskrcnn", Lazy("models.items.finders:MaskRCNNFinder"))

ITEM_INPUTS: Registry = Registry("item input")
for _name in ("masked", "context", "frame"):
    ITEM_INPUTS.add(_name, Lazy(f"models.items.inputs:{_name.upper()}"))

ITEM_SCORES: Registry = Registry("item score rule")
for _name in ("max", "top3_mean", "top10_mean", "noisy_or", "evidence", "contrast", "learned"):
    ITEM_SCORES.add(_name, Lazy(f"models.item_scores:{_name}_rule"))
