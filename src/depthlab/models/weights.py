"""model.encoder_weights: timm's pretrained tag, smp's named weights or a local file, and where they came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from huggingface_hub import try_to_load_from_cache
from segmentation_models_pytorch.encoders import encoders as smp_encoders

from depthlab.utils.errors import DepthlabError

TIMM_WEIGHTS = ("timm", "imagenet")  # for tu- encoders: timm's pretrained weights of the name's tag
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
DIR_FILES = ("model.safetensors", "pytorch_model.bin")  # what a Hugging Face / timm model directory holds
UNKNOWN_LICENSE = "unknown (see the weights' model card)"


def is_local(encoder_weights: str | None) -> bool:
    """A value with a path separator or a weight-file suffix names a local file or directory."""
    value = str(encoder_weights or "")
    return "/" in value or "\\" in value or value.endswith(WEIGHT_SUFFIXES)


def local_weight_file(encoder: str, encoder_weights: str) -> Path:
    """The weight file a local model.encoder_weights names (a directory: its model.safetensors or .bin)."""
    if not encoder.startswith("tu-"):
        raise DepthlabError(
            f"model.encoder_weights={encoder_weights} is a local file, which needs a timm encoder "
            f"(model.encoder=tu-<name>); {encoder} takes its smp weight names or null"
        )
    path = Path(encoder_weights).expanduser().resolve()
    if path.is_dir():
        path = next((path / name for name in DIR_FILES if (path / name).is_file()), path)
    if not path.is_file() or path.suffix not in WEIGHT_SUFFIXES:
        raise DepthlabError(
            f"model.encoder_weights={encoder_weights} is not a weight file ({', '.join(WEIGHT_SUFFIXES)}) "
            f"or a directory holding {' or '.join(DIR_FILES)}"
        )
    return path


def check_timm_weights(encoder: str, encoder_weights: str) -> None:
    """A named value for a tu- encoder is `timm` (or smp's `imagenet`) and timm has weights for the name."""
    if encoder_weights not in TIMM_WEIGHTS:
        raise DepthlabError(
            f"model.encoder_weights={encoder_weights} is unknown for the timm encoder {encoder}: use timm (the "
            f"weights of the name's pretrained tag, e.g. {encoder.split('.')[0]}.<tag>), a local weight file, or null"
        )
    if not timm.models.is_model_pretrained(encoder[3:]):
        raise DepthlabError(
            f"timm has no pretrained weights for {encoder[3:]}: set model.encoder_weights=null or a local file"
        )


def smp_weight_kwargs(encoder: str, encoder_weights: str | None) -> dict[str, Any]:
    """What smp.create_model gets for the weights: tu- encoders take True (+ timm's file overlay for a local file)."""
    if encoder_weights is None or not encoder.startswith("tu-"):
        return {"encoder_weights": encoder_weights}
    if is_local(encoder_weights):
        overlay = {"file": str(local_weight_file(encoder, encoder_weights))}
        return {"encoder_weights": True, "pretrained_cfg_overlay": overlay}
    return {"encoder_weights": True}


def weights_cached(encoder: str, encoder_weights: str) -> bool:
    """True when the named weights are already on this machine (HF cache, torch hub dir, a local file): no network."""
    if is_local(encoder_weights):
        return Path(encoder_weights).expanduser().exists()
    if encoder.startswith("tu-"):
        cfg = timm.models.get_pretrained_cfg(encoder[3:])
        repo, _, revision = (getattr(cfg, "hf_hub_id", None) or "").partition("@")
        if repo:
            names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else DIR_FILES
            return any(isinstance(try_to_load_from_cache(repo, n, revision=revision or None), str) for n in names)
        url = getattr(cfg, "url", None)
        return bool(url) and (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()
    settings = smp_encoders.get(encoder, {}).get("pretrained_settings", {}).get(encoder_weights)
    if not settings:
        return False
    cached = try_to_load_from_cache(settings["repo_id"], "model.safetensors", revision=settings.get("revision"))
    return isinstance(cached, str)


def cached_revision(repo_id: str, filename: str | None) -> str:
    """The commit of a Hugging Face repo's cached weight file ("" when it is not in the local cache)."""
    for name in (filename,) if filename else DIR_FILES:
        cached = try_to_load_from_cache(repo_id, name)
        if isinstance(cached, str) and "/snapshots/" in cached:
            return cached.split("/snapshots/")[1].split("/")[0]
    return ""


def provenance(encoder: str, encoder_weights: str | None) -> dict[str, str] | None:
    """Source, revision and license of the encoder's pretrained weights; None with random init."""
    if encoder_weights is None:
        return None
    if is_local(encoder_weights):  # the file need not exist any more (a model rebuilt from its checkpoint)
        source = str(Path(encoder_weights).expanduser().resolve())
        return {"source": source, "revision": "", "license": UNKNOWN_LICENSE}
    if encoder.startswith("tu-"):
        cfg = timm.models.get_pretrained_cfg(encoder[3:])
        repo, _, revision = (cfg.hf_hub_id or "").partition("@")
        if not repo:
            return {"source": cfg.url or encoder[3:], "revision": "", "license": cfg.license or UNKNOWN_LICENSE}
        revision = revision or cached_revision(repo, cfg.hf_hub_filename)
        return {"source": repo, "revision": revision, "license": cfg.license or UNKNOWN_LICENSE}
    settings = smp_encoders[encoder]["pretrained_settings"][encoder_weights]
    return {
        "source": settings.get("repo_id", f"smp {encoder} {encoder_weights}"),
        "revision": settings.get("revision", ""),
        "license": settings.get("license", UNKNOWN_LICENSE),
    }
