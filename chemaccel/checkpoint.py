"""Model folders and training checkpoints: JSON + safetensors, atomic, never pickled.

A model is a folder::

    my-model/
      config.json         {"format": "chemaccel-model", "format_version": 1, "chemaccel_version": ...,
                           "engine": "property", "config": {...}, "architecture": {...},
                           "units": {...}, "metrics": {...}, "created": "2026-11-25T21:00:00Z"}
      model.safetensors   the weights, at their (pruned) shapes

Loading rebuilds the module from ``architecture`` (kept channels of a pruned model, a NAS genotype, a
vocabulary) and then loads the tensors. Files are written under a temporary name and renamed into place,
so a crash never leaves half a model. A pickled file (``.pt``, ``.pkl``, a torch zip) handed over as a
model is refused with a clear error and never unpickled: a model from a colleague cannot run code.

Training checkpoints (:func:`save_training_state`) hold nested state (model, optimizer, scheduler, step,
RNG) flattened to one safetensors file plus a JSON skeleton, with the same atomic write.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from chemaccel._version import __version__
from chemaccel.errors import ModelFileError

FORMAT = "chemaccel-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_TOP_KEYS = {"format", "format_version", "chemaccel_version", "engine", "config", "architecture", "units",
             "metrics", "created", "notes"}
_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".npy", ".npz"}


@dataclass(frozen=True)
class ModelInfo:
    """What ``config.json`` of a model folder says."""

    engine: str
    config: dict[str, Any]
    architecture: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    format_version: int = FORMAT_VERSION
    chemaccel_version: str = __version__
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "chemaccel_version": self.chemaccel_version,
            "engine": self.engine,
            "config": self.config,
            "architecture": self.architecture,
            "units": self.units,
            "metrics": self.metrics,
            "notes": self.notes,
            "created": self.created or _now(),
        }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_permissions(path: Path) -> None:
    """Give a temporary file/folder (created 0600/0700 by tempfile) the permissions of a normal one."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------- refusing pickles
def looks_pickled(path: Path) -> bool:
    """True for a file that is (or wraps) a pickle: pickle protocol 2+ opcode, or torch's zip format."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head == b"PK\x03\x04"


def refuse_pickle(path: Path) -> None:
    """Raise :class:`ModelFileError` if ``path`` is a pickled file handed over as a model."""
    if path.is_file() and (path.suffix.lower() in _PICKLE_SUFFIXES or looks_pickled(path)):
        raise ModelFileError(
            f"{path}: refusing to load a pickled file ({path.suffix or 'pickle data'}): pickles can run code. "
            f"A chemaccel model is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}"
        )


# --------------------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _usual_permissions(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def _replace_dir(tmp_dir: Path, final: Path) -> None:
    """Move a finished folder into place; an existing folder is swapped out, then removed."""
    if final.exists():
        if not (final / CONFIG_NAME).exists() and any(final.iterdir()):
            raise ModelFileError(f"{final}: exists and is not a chemaccel model folder; refusing to overwrite it")
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp_dir, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final)


# --------------------------------------------------------------------------------------- model folders
def save_model_folder(
    path: str | Path,
    info: ModelInfo,
    tensors: Mapping[str, torch.Tensor] | torch.nn.Module,
) -> Path:
    """Write a model folder atomically: a temporary sibling folder, then a rename."""
    from safetensors.torch import save_file

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    state = tensors.state_dict() if isinstance(tensors, torch.nn.Module) else dict(tensors)
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        save_file(state, str(tmp_dir / WEIGHTS_NAME), metadata={"format": FORMAT, "engine": info.engine})
        _usual_permissions(tmp_dir / WEIGHTS_NAME)  # (safetensors creates its file 0600)
        atomic_write_json(tmp_dir / CONFIG_NAME, info.to_json())
        _usual_permissions(tmp_dir)
        _replace_dir(tmp_dir, final)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return final


#: what each engine's model is called in a one-line error
ENGINE_NOUNS = {"gan": "a GAN", "nas": "a NAS model", "reaction": "a reaction model", "prune": "a pruned model",
                "property": "a property model"}


def expect_engine(info: ModelInfo, engine: str, path: str | Path) -> ModelInfo:
    """``info`` when it is a model of ``engine``, else a :class:`ModelFileError` that names the folder and both
    engines (``<path>: a 'prune' model, not a GAN``)."""
    if info.engine != engine:
        raise ModelFileError(f"{path}: a {info.engine!r} model, not {ENGINE_NOUNS.get(engine, repr(engine))}")
    return info


def read_model_info(path: str | Path) -> ModelInfo:
    """Read and validate ``config.json`` of a model folder (no tensors)."""
    folder = Path(path)
    refuse_pickle(folder)
    if not folder.exists():
        raise ModelFileError(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: not a model folder (expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME})")
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelFileError(f"{folder}: missing {CONFIG_NAME}; not a chemaccel model folder")
    inside_folder(folder, CONFIG_NAME)
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{cfg_path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelFileError(f"{cfg_path}: not a chemaccel model config (format must be {FORMAT!r})")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ModelFileError(f"{cfg_path}: unknown keys {sorted(unknown)}")
    version = raw.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{cfg_path}: missing or bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{cfg_path}: format_version {version} is newer than this chemaccel reads ({FORMAT_VERSION}); upgrade chemaccel"
        )
    engine = raw.get("engine")
    if not isinstance(engine, str) or not engine:
        raise ModelFileError(f"{cfg_path}: missing 'engine'")
    for key in ("config", "architecture", "units", "metrics"):
        if not isinstance(raw.get(key, {}), dict):
            raise ModelFileError(f"{cfg_path}: '{key}' must be a JSON object")
    return ModelInfo(
        engine=engine,
        config=raw.get("config", {}),
        architecture=raw.get("architecture", {}),
        units=raw.get("units", {}),
        metrics=raw.get("metrics", {}),
        notes=str(raw.get("notes", "")),
        format_version=version,
        chemaccel_version=str(raw.get("chemaccel_version", "")),
        created=str(raw.get("created", "")),
    )


def load_model_folder(path: str | Path, device: str | torch.device = "cpu") -> tuple[ModelInfo, dict[str, torch.Tensor]]:
    """Read a model folder: its :class:`ModelInfo` and its tensors (safetensors only, never pickle)."""
    info = read_model_info(path)
    tensors = load_safetensors(inside_folder(Path(path), WEIGHTS_NAME), device=device)
    return info, tensors


def inside_folder(folder: Path, name: str) -> Path:
    """``folder / name``, refused when it is a link that leads outside the folder (a model folder is
    self-contained: nothing in it may make chemaccel read files elsewhere)."""
    path = folder / name
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        raise ModelFileError(f"{path}: a link to {path.resolve()}, outside the model folder; refused")
    return path


def load_safetensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file, turning every failure (missing, truncated, lying header) into one line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelFileError(f"{path}: missing weights file")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelFileError(f"{path}: unreadable weights (truncated or corrupt safetensors: {reason})") from None


# --------------------------------------------------------------------------------------- training state
def flatten_state(obj: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split nested state (dicts, lists, tensors, numbers, strings) into a JSON skeleton and tensors."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, key: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach().to("cpu").contiguous()
            return {"__tensor__": key}
        if isinstance(value, Mapping):
            return {"__dict__": [[walk(k, f"{key}.k{i}"), walk(v, f"{key}.{i}")] for i, (k, v) in enumerate(value.items())]}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{key}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{key}.{i}") for i, v in enumerate(value)]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot store {type(value).__name__} at {key!r} in a checkpoint")

    return walk(obj, prefix or "s"), tensors


def unflatten_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__tuple__" in skeleton:
            return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
        return {unflatten_state(k, tensors): unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def previous_state_path(path: str | Path) -> Path:
    """Where :func:`save_training_state` keeps the checkpoint it replaced (``NAME.previous`` beside it)."""
    final = Path(path)
    return final.with_name(final.name + ".previous")


def save_training_state(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Save resumable training state (model/optimizer state dicts, step, metrics) as one folder, atomically.

    The checkpoint it replaces is kept as ``NAME.previous`` (one generation), so that a checkpoint damaged
    later, or a crash between the two renames, still leaves a good one for
    :func:`load_resumable_state`.
    """
    from safetensors.torch import save_file

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    skeleton, tensors = flatten_state(dict(state))
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        save_file(tensors, str(tmp_dir / "state.safetensors"))
        atomic_write_json(tmp_dir / "state.json", {"format": "chemaccel-training-state", "format_version": 1,
                                                   "chemaccel_version": __version__, "state": skeleton})
        _usual_permissions(tmp_dir)
        if final.exists():
            previous = previous_state_path(final)
            if previous.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                os.replace(previous, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(final, previous)  # a crash here leaves no NAME, but NAME.previous: still resumable
        os.replace(tmp_dir, final)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return final


def has_training_state(path: str | Path | None) -> bool:
    """Whether ``path`` (or the previous checkpoint kept beside it) holds a training checkpoint to resume."""
    if path is None:
        return False
    return (Path(path) / "state.json").is_file() or (previous_state_path(path) / "state.json").is_file()


def load_resumable_state(path: str | Path, device: str | torch.device = "cpu",
                         on_message: Any = None) -> dict[str, Any] | None:
    """The checkpoint at ``path`` to resume from; when it is missing or damaged, the previous one kept beside it.

    Returns None when there is neither. Falling back is said through ``on_message(text)`` (e.g. a
    Reporter's ``on_message``) and the log; when both are unusable the error names both.
    """
    import logging

    path = Path(path)
    previous = previous_state_path(path)
    try:
        if (path / "state.json").is_file():
            return load_training_state(path, device=device)
        problem = f"{path}: no checkpoint (state.json missing)"
    except ModelFileError as exc:
        problem = str(exc)
    if not (previous / "state.json").is_file():
        if (path / "state.json").is_file():
            raise ModelFileError(problem)
        return None
    try:
        state = load_training_state(previous, device=device)
    except ModelFileError as exc:
        raise ModelFileError(f"{problem}; the previous checkpoint is unusable too ({exc})") from None
    message = f"{' '.join(problem.split())}; resuming from the previous checkpoint {previous.name}"
    logging.getLogger("chemaccel").warning(message)
    if on_message is not None:
        on_message(message)
    return state


def load_training_state(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load what :func:`save_training_state` wrote; a missing or damaged checkpoint is a ModelFileError."""
    folder = Path(path)
    refuse_pickle(folder)
    meta_path = folder / "state.json"
    if not meta_path.is_file():
        raise ModelFileError(f"{folder}: not a chemaccel training checkpoint (no state.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "chemaccel-training-state":
        raise ModelFileError(f"{meta_path}: not a chemaccel training checkpoint")
    tensors = load_safetensors(folder / "state.safetensors", device=device)
    try:
        return unflatten_state(meta["state"], tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{meta_path}: inconsistent checkpoint ({exc})") from None


def shape_mismatch(expected: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor]) -> str:
    """What differs between a module's state (names and shapes) and the stored tensors; "" when they match."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = [f"{len(missing)} tensor(s) missing, e.g. {missing[0]}" if missing else "",
                 f"{len(extra)} unexpected, e.g. {extra[0]}" if extra else ""]
        return "; ".join(p for p in parts if p)
    for name, value in expected.items():
        if tuple(value.shape) != tuple(tensors[name].shape):
            return f"{name}: config.json makes {tuple(value.shape)}, the weights hold {tuple(tensors[name].shape)}"
    return ""


def rebuild_module(path: str | Path, build: Any, arch: Any, tensors: dict[str, torch.Tensor]) -> torch.nn.Module:
    """``build(arch)`` with ``tensors`` loaded into it; an inconsistent model folder is a ModelFileError.

    ``build`` raising (unknown operation, bad sizes, missing keys) and weights that do not fit the rebuilt
    module both mean the folder's files disagree: one line naming the folder and the reason.
    """
    try:
        # first on the meta device, which allocates nothing: a config.json that asks for more than its
        # weights hold (20,000,000 filters, say) is refused here, before any memory is taken
        with torch.device("meta"):
            probe = build(arch)
    except Exception as exc:  # ConfigError, shape and key errors alike: the file is inconsistent
        raise ModelFileError(f"{path}: cannot rebuild the model from config.json ({exc})") from None
    mismatch = shape_mismatch(probe.state_dict(), tensors)
    if mismatch:
        raise ModelFileError(f"{path}: the architecture in config.json does not match the weights ({mismatch})")
    try:
        module = build(arch)
    except Exception as exc:  # pragma: no cover - the meta build above fails the same way
        raise ModelFileError(f"{path}: cannot rebuild the model from config.json ({exc})") from None
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelFileError(f"{path}: weights do not match the architecture in config.json ({reason})") from None
    return module
