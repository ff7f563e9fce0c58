"""timm encoders: feature_info-driven channels / strides, padding multiple, local weights only, clear errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

import mtcontrast._compat  # noqa: F401  (before timm)

# isort: split
import timm

from mtcontrast.config import EncoderParams
from mtcontrast.models import ModelError, build_encoder

VIT = dict(name="vit_tiny_patch16_224", kwargs={"dynamic_img_size": True})


@pytest.mark.parametrize(
    ("params", "channels", "strides", "pad"),
    [
        (dict(name="resnet18"), (64, 128, 256, 512), (4, 8, 16, 32), 32),
        (dict(name="hrnet_w18_small_v2", feature_location=""), (18, 36, 72, 144), (4, 8, 16, 32), 32),
        (dict(name="convnext_tiny"), (96, 192, 384, 768), (4, 8, 16, 32), 32),
        (VIT, (192, 192, 192), (16, 16, 16), 16),
    ],
    ids=["resnet18", "hrnet_w18_small_v2", "convnext_tiny", "vit_tiny"],
)
def test_levels_come_from_feature_info(
    params: dict[str, Any], channels: tuple[int, ...], strides: tuple[int, ...], pad: int
) -> None:
    enc = build_encoder(EncoderParams(**params))
    assert enc.channels == channels
    assert enc.strides == strides  # stride-2 stems (resnet, hrnet) are dropped from the default levels
    assert enc.pad_multiple == pad
    with torch.no_grad():
        feats = enc(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(1, c, 64 // s, 96 // s) for c, s in zip(channels, strides)]


def test_explicit_out_indices_and_pad_multiple_of_the_whole_network() -> None:
    enc = build_encoder(EncoderParams(name="resnet18", out_indices=[0, 3]))
    assert (enc.channels, enc.strides) == ((64, 256), (2, 16))
    hr = build_encoder(EncoderParams(name="hrnet_w18_small_v2", feature_location="", out_indices=[1]))
    assert (hr.channels, hr.strides) == ((18,), (4,))
    assert hr.pad_multiple == 32  # HRNet still halves down to 1/32 internally


def _save(tmp_path: Path, name: str, state: dict[str, torch.Tensor], fmt: str = "pth") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state, "epoch": 3}, path)  # a training checkpoint, not a bare state dict
    return path


@pytest.mark.parametrize(
    ("params", "fmt"), [(dict(name="resnet18"), "pth"), (VIT, "safetensors")], ids=["resnet18-pth", "vit-safetensors"]
)
def test_local_weights_are_loaded_exactly(tmp_path: Path, params: dict[str, Any], fmt: str) -> None:
    torch.manual_seed(123)
    source = timm.create_model(params["name"], **params.get("kwargs", {}))
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = _save(tmp_path, params["name"], state, fmt)
    enc = build_encoder(EncoderParams(**params, pretrained_file=path))
    assert enc.missing_keys == () and enc.unexpected_keys == ()
    assert enc.weights_file == path
    loaded = enc.state_dict()
    # the features-only net keeps timm's names under its wrapper prefix ("model." for the encoder, and
    # "model.model." for ViT's FeatureGetterNet); every encoder tensor must equal the file's
    prefix = "model.model." if params["name"].startswith("vit") else "model."
    assert len(loaded) > 50
    for key, value in loaded.items():
        assert torch.equal(value, state[key.removeprefix(prefix)]), key
    # a different random init (the file really was used); load_weights=False skips the file entirely
    fresh = build_encoder(EncoderParams(**params, pretrained_file=tmp_path / "gone.pth"), load_weights=False)
    assert fresh.weights_file is None
    assert not torch.equal(fresh.state_dict()[next(iter(loaded))], next(iter(loaded.values())))


def test_missing_and_unexpected_keys_are_reported_and_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = timm.create_model("resnet18").state_dict()
    del state["layer1.0.conv1.weight"], state["fc.weight"], state["fc.bias"]  # classifier absence is not reported
    state["extra.bias"] = torch.zeros(3)
    path = _save(tmp_path, "resnet18", state)
    with caplog.at_level(logging.WARNING, logger="mtcontrast.models.encoders"):
        enc = build_encoder(EncoderParams(name="resnet18", pretrained_file=path))
    assert enc.missing_keys == ("layer1.0.conv1.weight",)
    assert enc.unexpected_keys == ("extra.bias",)
    messages = [r.getMessage() for r in caplog.records if r.name == "mtcontrast.models.encoders"]
    assert len(messages) == 2
    assert "layer1.0.conv1.weight" in messages[0] and str(path) in messages[0]
    assert "extra.bias" in messages[1]
    assert torch.equal(enc.state_dict()["model.layer1.0.bn1.weight"], state["layer1.0.bn1.weight"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (dict(name="resnet18", kwargs={"pretrained": True}), "not allowed: set model.encoder.pretrained_file"),
        (dict(name="resnet18", kwargs={"out_indices": [1]}), "use model.encoder.out_indices"),
        (dict(name="hf-hub:timm/resnet18.a1_in1k"), "hub model ids are not supported"),
        (dict(name="resnet_nope"), "'resnet_nope' is not a timm architecture"),
        (dict(name="resnet18", pretrained_file="/nonexistent/w.pth"), "'/nonexistent/w.pth': file not found"),
        (dict(name="resnet18", out_indices=[7]), "timm could not build 'resnet18' with features_only=True"),
    ],
    ids=["hub-pretrained", "reserved-kwarg", "hub-name", "unknown", "missing-file", "bad-index"],
)
def test_bad_requests_fail_at_once_with_the_key(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ModelError) as info:
        build_encoder(EncoderParams(**params))
    assert expected in str(info.value)


def test_unreadable_or_mismatched_file_names_the_problem(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"junk\.pth: cannot read a state dict"):
        build_encoder(EncoderParams(name="resnet18", pretrained_file=junk))
    state = timm.create_model("resnet18").state_dict()
    state["conv1.weight"] = torch.zeros(8, 3, 7, 7)
    path = _save(tmp_path, "wrong", state)
    with pytest.raises(ModelError, match=r"conv1\.weight \(file \(8, 3, 7, 7\), model \(64, 3, 7, 7\)\)"):
        build_encoder(EncoderParams(name="resnet18", pretrained_file=path))
    prefixed = _save(tmp_path, "prefixed", {f"backbone.{k}": v for k, v in state.items()})
    with pytest.raises(
        ModelError, match=r"none of its 122 tensors is a key of 'resnet18' \(file keys like \['backbone"
    ):
        build_encoder(EncoderParams(name="resnet18", pretrained_file=prefixed))
