"""Writing a trained model directory's networks as ONNX files (`dualscan export-model --onnx`):
each network traced on the inputs it gets while the model scores a few simulated scans."""

from __future__ import annotations

import numpy as np
import torch

from models.items.scan import item_object_probs, item_superpixels
from models.model_dir import ModelDirectory
from models.onnx_networks import capture_inputs, networks_of, write_onnx
from models.subcomponent.items import ItemSubcomponentModel
from models.trained import TrainedModel, load_trained_model
from scans.modalities import build_input, modality_channels
from scans.synth import SynthConfig, synth_scan

SAMPLE_SCANS = 4
SAMPLE_FIELD_MM = 500.0  # the default tray, 50 cm across
SAMPLE_SEED = 90_210


def sample_images(modality: str, pitch_mm: float | None, n: int = SAMPLE_SCANS) -> list[np.ndarray]:
    """``n`` simulated world-1 scans (every item class, anomalies in half the items) at the model's
    pitch, as its input modality builds them: what the networks are traced on."""
    pitch = pitch_mm or SAMPLE_FIELD_MM / 256
    size = int(np.clip(round(SAMPLE_FIELD_MM / pitch), 96, 768))
    config = SynthConfig(world=1, n=n, size=size, pitch_mm=pitch, seed=SAMPLE_SEED, previews=False,
                         min_items=2, max_items=3)
    return [build_input(synth_scan(config, i), modality) for i in range(n)]


def export_onnx(model_uri: str) -> dict:
    """Write ``model_uri``'s networks as ONNX files into its onnx/ (networks.json lists them with
    their sha256); NotExportableError names a model or network that cannot be exported."""
    trained = load_trained_model(model_uri, "cpu")
    networks = networks_of(trained.model, trained.finder)
    images = sample_images(trained.input_modality, trained.input_pitch_mm)

    def run() -> None:
        trained.predict(images)  # the finder, and the classifier on whatever items it found
        for image in images:  # each scan whole as one item: the classifier runs whatever was found
            whole_scan_as_item(trained, torch.from_numpy(image[:modality_channels(trained.modality)]))

    inputs = capture_inputs(networks, run)
    return write_onnx(ModelDirectory(model_uri), networks, inputs)


@torch.no_grad()
def whole_scan_as_item(trained: TrainedModel, image: torch.Tensor) -> None:
    """The classifier on one (C, H, W) scan as if it were one item filling it (named as the
    model's first class where it reads classes)."""
    mask = torch.ones(image.shape[-2:], dtype=torch.bool)
    model = trained.model
    if isinstance(model, ItemSubcomponentModel):
        named = model.class_context.classes[0] if model.class_context is not None else None
        item_superpixels(model, image, mask, item_class=named)
    else:
        item_object_probs(model, [image], [mask])
