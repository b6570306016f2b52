"""The item's class as context: a fresh branch changes nothing, a trained one moves a tile's scores
with the class its item is named alone, and the class reaches the model in training, val and scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.items.class_context import UNKNOWN
from models.items.finders import FoundItems
from models.items.scan import item_superpixels, score_scan
from models.items.stage import build_finder
from models.model_dir import ModelDirectory, ModelDirError
from models.spec import ModelSpec
from models.subcomponent.items import ItemSubcomponentModel
from models.trained import export_model, load_trained_model
from study.config import AugmentConfig, ConfigError, ItemStageConfig, load_config
from study.items.stage import finder_spec
from study.items.tiles import TileSampler, augment
from study.train import trial_from_config
from tests.models.subcomponent.test_overview import _long_item
from tests.study.items.test_tiles import _item_set

CLASSES = ("laptop", "kettle", "mobile")


def _model(classes: tuple[str, ...] = CLASSES, trained: bool = True) -> ItemSubcomponentModel:
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", backbone="mobilenet_v3_small_050", n_superpixels=30,
                                  class_context=classes).eval()
    if trained and classes:  # a trained branch: each class's modulation no longer zero
        torch.nn.init.normal_(model.class_context.film.weight, std=0.5)
    return model


def _probs(model: ItemSubcomponentModel, name: str) -> torch.Tensor:
    image, mask = _long_item()
    with torch.no_grad():
        return model(model.assemble(image[None], mask[None]), mask[None],
                     item_class=model.class_index([name])).probs


def test_a_tiles_scores_follow_the_class_its_item_is_named_and_an_unknown_one_reads_as_none():
    model = _model()
    laptop, kettle = _probs(model, "laptop"), _probs(model, "kettle")
    assert laptop.shape == kettle.shape
    assert float((laptop - kettle).abs().max()) > 1e-4
    assert model.class_index(["kettle", "toaster", ""]).tolist() == [2, UNKNOWN, UNKNOWN]
    torch.testing.assert_close(_probs(model, "toaster"), _probs(model, ""))
    image, mask = _long_item()
    with pytest.raises(ValueError, match="item_class"):  # a model with class context needs the class
        model(model.assemble(image[None], mask[None]), mask[None])


def test_a_fresh_branch_leaves_the_features_as_they_were():
    torch.manual_seed(0)
    plain = ItemSubcomponentModel(modality="hlz_log", backbone="mobilenet_v3_small_050", n_superpixels=30)
    naming = _model(trained=False)
    missing = set(naming.state_dict()) - set(plain.state_dict())
    assert missing == {"class_context.film.weight"}
    naming.load_state_dict({**naming.state_dict(), **plain.state_dict()})
    plain.eval()
    image, mask = _long_item()
    with torch.no_grad():
        expected = plain(plain.assemble(image[None], mask[None]), mask[None]).probs
    torch.testing.assert_close(_probs(naming, "kettle"), expected)
    assert plain.class_index(["kettle"]) is None  # a model without the branch reads no class
    with pytest.raises(ValueError, match="pool mode"):
        ItemSubcomponentModel(modality="hlz_log", mode="crop", class_context=CLASSES)
    with pytest.raises(ValueError, match="distinct"):
        ItemSubcomponentModel(modality="hlz_log", class_context=("laptop", "laptop"))


def test_tiles_carry_their_items_class_through_augmentation():
    items = _item_set(4, side=64)
    items.named_class = np.array(["laptop", "kettle", "mobile", "toaster"])
    classes = _model().class_index(items.named_class)
    sampler = TileSampler(items, 32, (0.0, 0.0, 0.0), seed=1, classes=classes)
    batch, picked = sampler.sample(12, positive=0.5, hard=0.0)
    assert batch.item_class.tolist() == classes[torch.from_numpy(picked)].tolist()
    turned = augment(batch, AugmentConfig(rotate=True), (0.0, 0.0, 0.0), torch.Generator().manual_seed(0))
    assert torch.equal(turned.item_class, batch.item_class)
    with pytest.raises(ValueError, match="item classes"):
        TileSampler(items, 32, (0.0, 0.0, 0.0), classes=classes[:2])


class _NamingFinder(torch.nn.Module):
    """Finds one square item in every scan and names it ``name`` (None: names nothing)."""

    def __init__(self, name: str | None):
        super().__init__()
        self.name, self.anchor = name, torch.nn.Parameter(torch.zeros(1))

    def find(self, images: torch.Tensor) -> list[FoundItems]:
        objects = torch.zeros(images.shape[-2:], dtype=torch.long)
        objects[4:60, 4:60] = 1
        return [FoundItems(objects, torch.ones(1), None if self.name is None else [self.name])]


def test_scoring_a_scan_gives_the_model_the_class_its_finder_named():
    model = _model()
    image, _ = _long_item()
    scores = {name: score_scan(_NamingFinder(name), model, image, image).item_scores for name in CLASSES}
    assert len({float(s[0]) for s in scores.values()}) == len(CLASSES)
    with pytest.raises(ValueError, match="class_context"):  # a finder naming nothing cannot feed it
        score_scan(_NamingFinder(None), model, image, image)
    with pytest.raises(ValueError, match="no name"):  # nor an item set's item without a name
        item_superpixels(model, image, image[0] > 0, item_class="")


@pytest.mark.parametrize(("named", "loads"), [(CLASSES, True), (("laptop", "kettle"), False), ((), False)])
def test_a_model_loads_only_beside_an_item_stage_naming_its_classes(named, loads, tmp_path):
    model = _model()
    spec = ModelSpec(pipeline="subcomponent", backbone="mobilenet_v3_small_050", modality="hlz_log", k=30,
                     class_context=CLASSES)
    export_model(tmp_path / "model", model, spec, threshold=0.5)
    stage = finder_spec(ItemStageConfig(modality="hlz_log", encoder="mobilenet_v3_small_050"), list(named))
    (tmp_path / "model" / "items").mkdir()
    torch.save(build_finder(stage).state_dict(), tmp_path / "model" / "items" / "model.pt")
    (tmp_path / "model" / "items" / "config.json").write_text(json.dumps({"finder": stage}))
    if loads:
        assert load_trained_model(str(tmp_path / "model"), "cpu").spec.class_context == CLASSES
    else:
        with pytest.raises(ModelDirError, match="names"):
            load_trained_model(str(tmp_path / "model"), "cpu")


def test_the_config_refuses_class_context_where_it_cannot_act_and_the_trial_reads_the_stages_classes(
        tmp_path):
    quality = "study/configs/quality.yaml"
    with pytest.raises(ConfigError, match="class_context"):
        load_config(quality, {"recipe.class_context": True, "items.classes": False})
    with pytest.raises(ConfigError, match="class_context"):
        load_config(quality, {"recipe.class_context": True, "space.modes": ["crop"]})
    config = load_config(quality, {"recipe.class_context": True})
    point = {"pipeline": "subcomponent", "backbone": "resnet18", "modality": "hlz_log", "k": 300,
             "ssn_feature": "pixel", "mode": "pool", "anomaly_fraction": 0.5, "lr": 1e-3, "batch_size": 16}
    with pytest.raises(ValueError, match=r"items\.directory"):
        trial_from_config(config, point)
    stage = tmp_path / "items"
    stage.mkdir()
    finder = {"name": "unet", "kwargs": {"classes": list(CLASSES)}}
    (stage / "config.json").write_text(json.dumps({"finder": finder}))
    staged = config.model_copy(update={"items": config.items.model_copy(update={"directory": str(stage)})})
    trial = trial_from_config(staged, point)
    assert trial.class_context == CLASSES
    # the spec keeps the names through config.json (a JSON list read back as a tuple)
    ModelDirectory(str(tmp_path / "model")).write_model(_model().state_dict(), trial)
    assert ModelDirectory(str(tmp_path / "model")).spec().class_context == CLASSES
    assert ModelSpec(pipeline="subcomponent", backbone="resnet18", modality="hlz",
                     class_context=["a", "b"]).class_context == ("a", "b")
