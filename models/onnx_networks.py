"""A trained model's networks as ONNX files beside its weights, and ONNX Runtime sessions standing
in for them: everything around the networks (superpixel iterations, connectivity, pooling, item
grouping and matching, item rules) stays the project's own code, shared by both runtimes."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.items.finders import UNetFinder
from models.items.object_model import ItemObjectModel
from models.model_dir import WEIGHTS_FILE, ModelDirectory, ModelDirError
from models.subcomponent.items import ItemSubcomponentModel

ONNX_DIR = "onnx"
MANIFEST = f"{ONNX_DIR}/networks.json"
OPSET = 17


class NotExportableError(ValueError):
    """A model (or a part of one) whose networks cannot be exported; the message names it."""


@dataclass
class Network:
    """One network a model runs: the module an ONNX file is traced from, and how a session takes
    its place (``place(session)``)."""

    module: nn.Module
    place: Callable[[nn.Module], None]


def _submodule(parent: nn.Module, attribute: str) -> Network:
    return Network(getattr(parent, attribute), lambda session: setattr(parent, attribute, session))


def networks_of(model: nn.Module, finder: nn.Module | None = None) -> dict[str, Network]:
    """Every network the model runs, by dotted name (``model.dense``, ``finder.net``): what ONNX
    files stand in for. NotExportableError names what cannot be exported."""
    out: dict[str, Network] = {}
    if isinstance(model, ItemSubcomponentModel):
        if model.item_head is not None and bool(model.item_head.fitted):  # an unfitted head never runs
            out["model.item_head"] = _submodule(model, "item_head")
        if model.mode == "pool":
            dense = model.dense
            out["model.dense"] = Network(dense.network,
                                         lambda session: object.__setattr__(dense, "network", session))
            for name in ("pixel_head", "head", "overview", "class_context"):
                if getattr(model, name) is not None:
                    out[f"model.{name}"] = _submodule(model, name)
        else:
            out["model.backbone"] = _submodule(model, "backbone")
        if model.ssn_learns:  # learned SSN features (plain SLIC has none)
            out["model.ssn.features"] = _submodule(model.ssn, "features")
    elif isinstance(model, ItemObjectModel):
        out["model.backbone"] = _submodule(model, "backbone")
    else:
        raise NotExportableError(f"a {type(model).__name__} (a whole-scan pipeline) is not exported to ONNX "
                                 "yet; the item-first pipelines (subcomponent, object) are")
    if finder is not None:
        if not isinstance(finder, UNetFinder):
            raise NotExportableError(f"the item finder {type(finder).__name__} (Mask R-CNN) is not exported "
                                     "to ONNX yet; the unet finder is")
        out["finder.net"] = _submodule(finder, "net")
    return out


def _dynamic_axes(tensor: torch.Tensor, name: str) -> dict[int, str]:
    """Every axis but the channels (axis 1 of a 2-D or 4-D tensor) free: batch, height, width."""
    fixed = {1} if tensor.dim() in (2, 4) else set()
    return {axis: f"{name}_{axis}" for axis in range(tensor.dim()) if axis not in fixed}


def export_network(module: nn.Module, args: tuple[torch.Tensor, ...]) -> bytes:
    """One network as ONNX bytes, its image sizes and batch dynamic, traced on ``args``."""
    names = [f"input{i}" for i in range(len(args))]
    with torch.no_grad():
        outputs = module(*args)
    n_out = len(outputs) if isinstance(outputs, tuple | list) else 1
    out_names = [f"output{i}" for i in range(n_out)]
    example = outputs if isinstance(outputs, tuple | list) else (outputs,)
    axes = {n: _dynamic_axes(a, n) for n, a in zip(names, args, strict=True)}
    axes |= {n: _dynamic_axes(o, n) for n, o in zip(out_names, example, strict=True)}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice; it is what runs here
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, dynamo=False, input_names=names, output_names=out_names,
                          dynamic_axes=axes, opset_version=OPSET)
    return buffer.getvalue()


def capture_inputs(networks: dict[str, Network], run: Callable[[], object]) -> dict[str, tuple]:
    """The first positional inputs each network is called with while ``run()`` runs."""
    seen: dict[str, tuple] = {}
    handles = []
    for name, network in networks.items():
        def hook(_module, args, name=name):
            seen.setdefault(name, tuple(a.detach() for a in args if isinstance(a, torch.Tensor)))
        handles.append(network.module.register_forward_pre_hook(hook))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return seen


def write_onnx(directory: ModelDirectory, networks: dict[str, Network], inputs: dict[str, tuple]) -> dict:
    """Export each network on its captured inputs into ``directory``'s onnx/ and write the manifest;
    NotExportableError names a network that never ran on the sample scans."""
    missing = [name for name in networks if name not in inputs]
    if missing:
        raise NotExportableError(f"{', '.join(missing)} never ran on the sample scans (no item found?): "
                                 "nothing to trace it on")
    manifest, folder = {}, directory.sub(ONNX_DIR)
    for name, network in networks.items():
        data = export_network(network.module.eval(), inputs[name])
        folder.write_bytes(f"{name}.onnx", data)
        manifest[name] = {"file": f"{ONNX_DIR}/{name}.onnx", "sha256": hashlib.sha256(data).hexdigest(),
                          "inputs": len(inputs[name]), "opset": OPSET}
    folder.write_json(MANIFEST.removeprefix(f"{ONNX_DIR}/"), {"networks": manifest,
                                                              "traced_from": traced_from(directory)})
    return manifest


def traced_from(directory: ModelDirectory) -> dict[str, str]:
    """The sha256 of the weights the networks were traced from (the model's, its item stage's):
    ONNX files of other weights (a directory retrained since) are refused."""
    out = {"model": directory.sha256()} if directory.has(WEIGHTS_FILE) else {}
    if directory.item_stage_dir.has(WEIGHTS_FILE):
        out["item_stage"] = directory.item_stage_dir.sha256()
    return out


class OnnxNetwork(nn.Module):
    """An ONNX Runtime session in a network's place: the same call (tensors in, tensors out, on the
    inputs' device), float32 throughout; other attributes are read from the module it replaces
    (a class context's ``index``, a backbone's sizes)."""

    def __init__(self, replaced: nn.Module, data: bytes, source: str):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelDirError(f"{source}: ONNX Runtime is not installed "
                                "(pip install 'dualscan[onnx]')") from None

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        # its threads wait asleep between calls: spinning, they take the cores from PyTorch's code
        # around the networks (superpixels, pooling) running in between: the demo detector scored
        # 5.0 scans/s spinning, 18.0 without (benchmarks.onnx_runtime)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own kinds for a bad file
            raise ModelDirError(f"{source}: not a loadable ONNX network ({err})") from None
        self.source = source
        self.input_names = [i.name for i in self.session.get_inputs()]
        object.__setattr__(self, "replaced", replaced)  # not a submodule: its weights are not ours
        # scoring code asks the model's parameters for its device: this one answers, holding nothing
        self.anchor = nn.Parameter(torch.zeros(0, device=_device_of(replaced)), requires_grad=False)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "replaced"), name)

    def forward(self, *args: torch.Tensor):
        device = args[0].device
        feed = {}
        for name in self.input_names:  # input<i> is the i-th argument (an unused one is pruned away)
            array = args[int(name.removeprefix("input"))].detach().cpu().numpy()
            feed[name] = array.astype(np.float32) if array.dtype.kind == "f" else array
        outputs = [torch.from_numpy(o).to(device) for o in self.session.run(None, feed)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _device_of(module: nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), torch.device("cpu"))


@dataclass
class OnnxNetworks:
    """What onnx/networks.json lists: each network's file and sha256."""

    networks: dict[str, dict]
    traced_from: dict[str, str]

    @classmethod
    def read(cls, directory: ModelDirectory) -> OnnxNetworks:
        if not directory.has(MANIFEST):
            raise ModelDirError(f"{directory.uri}: no ONNX networks ({MANIFEST}); write them with "
                                f"`dualscan export-model MODEL {directory.uri} --onnx`")
        try:
            content = json.loads(directory.read(MANIFEST))
            return cls(dict(content["networks"]), dict(content.get("traced_from", {})))
        except (KeyError, TypeError, ValueError) as err:
            raise ModelDirError(f"{directory.uri_of(MANIFEST)}: not an ONNX manifest ({err})") from None


def use_onnx(directory: ModelDirectory, model: nn.Module, finder: nn.Module | None) -> None:
    """Put ONNX Runtime sessions in the place of every network ``model`` and ``finder`` run, from
    ``directory``'s onnx/ files (each checked against its sha256); a network the manifest lacks, or
    one it names that the model does not have, is a ModelDirError."""
    wanted = networks_of(model, finder)
    onnx = OnnxNetworks.read(directory)
    if onnx.traced_from != traced_from(directory):
        raise ModelDirError(f"{directory.uri_of(MANIFEST)}: its networks were traced from other weights than "
                            f"the directory holds now: export them again (`dualscan export-model --onnx`)")
    listed = onnx.networks
    if set(listed) != set(wanted):
        raise ModelDirError(f"{directory.uri_of(MANIFEST)} lists {', '.join(sorted(listed)) or 'nothing'}; "
                            f"the model runs {', '.join(sorted(wanted))}: export it again")
    for name, entry in listed.items():
        data = directory.read(entry["file"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ModelDirError(f"{directory.uri_of(entry['file'])}: its sha256 differs from {MANIFEST}'s")
        wanted[name].place(OnnxNetwork(wanted[name].module, data, directory.uri_of(entry["file"])))
