"""The benchmark models of AutoPrune, each rebuilt from a JSON architecture dict of layer widths.

Xiao, Wang and Rajasekaran (AutoPrune, NeurIPS 2019) evaluate on LeNet-300-100 and LeNet-5 (Caffe
variant: conv 20 5x5, max-pool, conv 50 5x5, max-pool, fc 500, fc 10); we add a small Fashion-MNIST CNN
for channel pruning. Every model is a flat :class:`torch.nn.Sequential`, so the same code compacts them
(:mod:`chemaccel.prune.compact`) and a compacted model rebuilds from its ``config.json``:

* ``{"kind": "lenet300", "widths": [300, 100], "in_features": 784, "classes": 10}``
* ``{"kind": "lenet5", "widths": [20, 50, 500], "classes": 10}``
* ``{"kind": "cnn", "widths": [32, 64, 64, 128], "classes": 10, "batchnorm": true}``

``widths`` are the output sizes of every Linear/Conv layer except the classifier, in order, which is
exactly what compaction changes.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from chemaccel.errors import ConfigError

MODEL_KINDS = ("lenet300", "lenet5", "cnn")
DEFAULT_ARCH: dict[str, dict[str, Any]] = {
    "lenet300": {"kind": "lenet300", "widths": [300, 100], "in_features": 784, "classes": 10},
    "lenet5": {"kind": "lenet5", "widths": [20, 50, 500], "classes": 10},
    "cnn": {"kind": "cnn", "widths": [32, 64, 64, 128], "classes": 10, "batchnorm": True},
}
CLI_NAMES = {"lenet300": "lenet300", "lenet5": "lenet5", "cnn-fashion": "cnn"}


def default_architecture(name: str) -> dict[str, Any]:
    """The dense architecture dict for ``lenet300``, ``lenet5``, ``cnn`` (or CLI alias ``cnn-fashion``)."""
    kind = CLI_NAMES.get(name, name)
    if kind not in DEFAULT_ARCH:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(CLI_NAMES)}")
    arch = DEFAULT_ARCH[kind]
    return {k: (list(v) if isinstance(v, list) else v) for k, v in arch.items()}


def build_model(arch: dict[str, Any]) -> nn.Sequential:
    """Build a model from its architecture dict (see the module docstring); bad dicts are ConfigErrors."""
    if isinstance(arch, dict) and arch.get("kind") == "sequential":
        return _build_sequential(arch)
    if not isinstance(arch, dict) or arch.get("kind") not in MODEL_KINDS:
        raise ConfigError(f"architecture must be a dict with kind in {MODEL_KINDS}, got {arch!r}")
    widths = arch.get("widths")
    classes = int(arch.get("classes", 10))
    if not isinstance(widths, list) or not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ConfigError(f"architecture widths must be a list of positive integers, got {widths!r}")
    kind = arch["kind"]
    if kind == "lenet300":
        if len(widths) != 2:
            raise ConfigError("lenet300 needs two widths")
        return nn.Sequential(
            nn.Flatten(), nn.Linear(int(arch.get("in_features", 784)), widths[0]), nn.ReLU(),
            nn.Linear(widths[0], widths[1]), nn.ReLU(), nn.Linear(widths[1], classes),
        )
    if kind == "lenet5":
        if len(widths) != 3:
            raise ConfigError("lenet5 needs three widths")
        return nn.Sequential(
            nn.Conv2d(1, widths[0], 5), nn.MaxPool2d(2), nn.Conv2d(widths[0], widths[1], 5), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(widths[1] * 16, widths[2]), nn.ReLU(), nn.Linear(widths[2], classes),
        )
    if len(widths) != 4:
        raise ConfigError("cnn needs four widths")
    bn = bool(arch.get("batchnorm", True))

    def block(cin: int, cout: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        return layers + [nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        nn.Conv2d(1, widths[0], 3, padding=1), *([nn.BatchNorm2d(widths[0])] if bn else []), nn.ReLU(),
        nn.MaxPool2d(2), *block(widths[0], widths[1]), *block(widths[1], widths[2])[:-1],
        nn.Flatten(), nn.Linear(widths[2] * 49, widths[3]), nn.ReLU(), nn.Linear(widths[3], classes),
    )


def widths_of(model: nn.Module) -> list[int]:
    """Output sizes of every Linear/Conv layer except the last (the ``widths`` of an architecture)."""
    outs = [m.weight.shape[0] for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    return [int(o) for o in outs[:-1]]


def input_shape(arch: dict[str, Any]) -> tuple[int, ...]:
    """Shape of one input sample (without batch): ``(1, 28, 28)`` for all three models."""
    return (1, 28, 28)


# ------------------------------------------------------------------ any chain as JSON ("sequential")
_SIMPLE = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU,
           "identity": nn.Identity, "flatten": nn.Flatten}


def sequential_spec(model: nn.Module) -> dict[str, Any]:
    """Describe an ``nn.Sequential`` chain as ``{"kind": "sequential", "layers": [...]}`` (JSON, no code).

    Supported leaves are those of :mod:`chemaccel.prune.compact`; anything else is a ConfigError.
    """
    from chemaccel.prune.compact import CompactionError, flatten_chain

    try:
        leaves = flatten_chain(model)
    except CompactionError as exc:
        raise ConfigError(f"cannot describe this model as JSON: {exc}") from None
    layers: list[dict[str, Any]] = []
    for m in leaves:
        if isinstance(m, nn.Linear):
            layers.append({"type": "linear", "in": m.in_features, "out": m.out_features, "bias": m.bias is not None})
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            layers.append({"type": "conv1d" if isinstance(m, nn.Conv1d) else "conv2d", "in": m.in_channels,
                           "out": m.out_channels, "kernel": list(m.kernel_size), "stride": list(m.stride),
                           "padding": list(m.padding), "bias": m.bias is not None})
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layers.append({"type": "bn1d" if isinstance(m, nn.BatchNorm1d) else "bn2d", "n": m.num_features,
                           "eps": m.eps})
        elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else list(m.kernel_size)
            s = m.stride if isinstance(m.stride, int) else list(m.stride)
            layers.append({"type": type(m).__name__.lower(), "kernel": k, "stride": s})
        elif isinstance(m, nn.LeakyReLU):
            layers.append({"type": "leakyrelu", "slope": m.negative_slope})
        elif isinstance(m, nn.Dropout):
            layers.append({"type": "dropout", "p": m.p})
        else:
            name = next((k for k, v in _SIMPLE.items() if type(m) is v), None)
            if name is None:
                raise ConfigError(f"cannot describe {type(m).__name__} as JSON")
            layers.append({"type": name})
    return {"kind": "sequential", "layers": layers}


def _build_sequential(spec: dict[str, Any]) -> nn.Sequential:
    mods: list[nn.Module] = []
    for d in spec.get("layers", []):
        t = d.get("type")
        if t == "linear":
            mods.append(nn.Linear(d["in"], d["out"], bias=d.get("bias", True)))
        elif t in ("conv1d", "conv2d"):
            cls = nn.Conv1d if t == "conv1d" else nn.Conv2d
            mods.append(cls(d["in"], d["out"], tuple(d["kernel"]), stride=tuple(d["stride"]),
                            padding=tuple(d["padding"]), bias=d.get("bias", True)))
        elif t in ("bn1d", "bn2d"):
            mods.append((nn.BatchNorm1d if t == "bn1d" else nn.BatchNorm2d)(d["n"], eps=d.get("eps", 1e-5)))
        elif t in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
            cls = {"maxpool1d": nn.MaxPool1d, "maxpool2d": nn.MaxPool2d, "avgpool1d": nn.AvgPool1d,
                   "avgpool2d": nn.AvgPool2d}[t]
            k, s = d["kernel"], d["stride"]
            mods.append(cls(tuple(k) if isinstance(k, list) else k, tuple(s) if isinstance(s, list) else s))
        elif t == "leakyrelu":
            mods.append(nn.LeakyReLU(d.get("slope", 0.01)))
        elif t == "dropout":
            mods.append(nn.Dropout(d.get("p", 0.5)))
        elif t in _SIMPLE:
            mods.append(_SIMPLE[t]())
        else:
            raise ConfigError(f"unknown layer type {t!r} in a sequential architecture")
    return nn.Sequential(*mods)
