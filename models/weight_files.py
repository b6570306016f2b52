"""Weight files into models: a local state dict (never downloaded) fitted to the model it starts —
torchvision's own layouts included, the first convolution adapted to the modality's channels and
class-specific heads dropped or re-initialised — with errors that name the file."""

from __future__ import annotations

import os

import torch
from torch import nn

# torchvision classifiers' heads (ResNet's fc, VGG's, SqueezeNet's and MobileNet's classifier):
# an ImageNet head that a feature extractor (a U-Net encoder) has no place for
CLASSIFIER_PREFIXES = ("fc.", "classifier.")


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a local file, loaded with ``weights_only=True``; errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist (weights are never downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a bad file
        raise ValueError(f"weights file {path!r} is not a loadable state dict ({err})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path!r} does not hold a state dict of tensors")
    return state


def adapt_conv_weight(weight: torch.Tensor, in_channels: int, extra_channels: int = 0) -> torch.Tensor:
    """A convolution's (out, in, kh, kw) filters for ``in_channels`` inputs, by the convention of
    timm's ``adapt_input_conv`` and smp's ``patch_first_conv``: for one image channel the filters'
    sum over their inputs (a grey pixel activates as the same grey in every colour did); for more,
    the inputs' filters repeated in turn (R, G, B, R, ...) and scaled by in/new, so that an input
    whose channels are equal gives the activation the original filters gave it. The last
    ``extra_channels`` (an item input's mask and frame channels) start at zero: a pretrained
    encoder first sees what it was trained on, and learns what they add."""
    image_channels = in_channels - extra_channels
    if image_channels < 1:
        raise ValueError(f"{in_channels} input channels leave none for the image beside "
                         f"{extra_channels} extra")
    if weight.shape[1] == image_channels:
        adapted = weight
    elif image_channels == 1:
        adapted = weight.sum(dim=1, keepdim=True)
    else:
        repeats = -(-image_channels // weight.shape[1])
        adapted = weight.repeat(1, repeats, 1, 1)[:, :image_channels] * (weight.shape[1] / image_channels)
    if not extra_channels:
        return adapted
    return torch.cat([adapted, adapted.new_zeros(weight.shape[0], extra_channels, *weight.shape[2:])], 1)


def fit_state_dict(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], source: str, what: str,
                   reinit: tuple[str, ...] = (), extra_channels: int = 0) -> dict[str, torch.Tensor]:
    """``state`` (from weight file ``source``) made to fit a module whose state dict is ``target``:
    the first convolution, where it differs only in its input channels, is adapted to the module's
    (adapt_conv_weight: to the modality, its last ``extra_channels`` at zero), and tensors under the
    ``reinit`` prefixes whose shapes differ (class-specific predictors) keep the module's fresh
    initialisation. Any other difference is an error naming the file and the key."""
    first_conv = next((key for key, value in target.items() if value.dim() == 4), None)
    fitted = {}
    for key, value in state.items():
        want = target.get(key)
        # the first convolution is adapted where its inputs differ, and always where some are extra
        # channels (image channels and extras can add up to the file's 3: the extras still start at 0)
        adapt = (key == first_conv and want is not None and value.dim() == 4
                 and value.shape[0] == want.shape[0] and value.shape[2:] == want.shape[2:]
                 and (value.shape[1] != want.shape[1] or bool(extra_channels)))
        if adapt:
            fitted[key] = adapt_conv_weight(value, want.shape[1], extra_channels)
        elif want is None or value.shape == want.shape:
            fitted[key] = value  # an unexpected key is the strict load's to report
        elif key.startswith(reinit):
            fitted[key] = want
        else:
            raise ValueError(f"weights file {source!r} does not match the {what}: {key} has shape "
                             f"{tuple(value.shape)}, the model's {tuple(want.shape)}")
    return fitted


def load_fitted(module: nn.Module, state: dict[str, torch.Tensor], source: str, what: str,
                reinit: tuple[str, ...] = (), extra_channels: int = 0) -> None:
    """``state`` fitted to ``module`` (fit_state_dict) and loaded strictly: a missing or unknown
    key is an error naming the file."""
    fitted = fit_state_dict(state, module.state_dict(), source, what, reinit, extra_channels)
    try:
        module.load_state_dict(fitted, strict=True)
    except RuntimeError as err:
        detail = " ".join(line.strip() for line in str(err).splitlines()[1:3])
        raise ValueError(f"weights file {source!r} does not match the {what}: {detail}") from None


def load_encoder_weights(encoder: nn.Module, path: str | os.PathLike, what: str, extra_channels: int = 0
                         ) -> dict[str, torch.Tensor]:
    """A U-Net encoder's weights from ``path``: its own state dict (``encoder.``-prefixed, or bare),
    or the torchvision classifier it is built on (ResNet, VGG: the same keys, whose ImageNet head is
    dropped), the first convolution adapted to the encoder's channels (the last ``extra_channels``
    at zero). Returns what the file holds
    beside the encoder (``decoder.*`` and other keys, for the caller)."""
    source = os.fspath(path)
    state = load_state_dict(path)
    prefixed = any(k.startswith("encoder.") for k in state)
    encoder_state = ({k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
                     if prefixed else
                     {k: v for k, v in state.items() if not k.startswith((*CLASSIFIER_PREFIXES, "decoder.",
                                                                          "head"))})
    load_fitted(encoder, encoder_state, source, what, extra_channels=extra_channels)
    return {k: v for k, v in state.items() if not k.startswith("encoder.")} if prefixed else {
        k: v for k, v in state.items() if k.startswith("decoder.")}
