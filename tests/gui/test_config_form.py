"""The settings form is generated from a config dataclass and validated by it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox  # noqa: E402

from chemaccel import api  # noqa: E402
from chemaccel.gan import GanConfig  # noqa: E402
from chemaccel_gui.config_form import ConfigForm, field_docs, module_choices  # noqa: E402

COLOURS = ("red", "green")


@dataclass(frozen=True)
class Inner:
    """Nested settings.

    Attributes:
        seed: random seed.
    """

    seed: int = 3


@dataclass(frozen=True)
class Settings:
    """Settings of a test.

    Attributes:
        colour: one of :data:`COLOURS`.
        size: how many, at least 1; a long description that
            goes on to a second line.
        scale, shift: two numbers.
        fast: skip the slow part.
        limit: an optional cap.
        label: free text.
        names: not editable in a form.
        inner: nested settings.
    """

    colour: str = "red"
    size: int = 2
    scale: float = 1.5
    shift: float = 0.0
    fast: bool = False
    limit: float | None = None
    label: str = "x"
    names: tuple[str, ...] = ()
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise api.ConfigError(f"size must be at least 1, got {self.size}")
        if self.colour not in COLOURS:
            raise api.ConfigError(f"colour must be one of {', '.join(COLOURS)}; got {self.colour!r}")


def test_widgets_follow_the_type_hints(qtbot):
    form = ConfigForm(Settings)
    qtbot.addWidget(form)
    assert list(form.fields) == ["colour", "size", "scale", "shift", "fast", "limit", "label", "inner.seed"]
    kinds = {name: type(form.widget(name)) for name in form.fields}
    assert kinds == {"colour": QComboBox, "size": QSpinBox, "scale": QLineEdit, "shift": QLineEdit,
                     "fast": QCheckBox, "limit": QLineEdit, "label": QLineEdit, "inner.seed": QSpinBox}
    assert form.fields["colour"].choices == COLOURS  # the module's COLOURS tuple
    assert form.values() == {"colour": "red", "size": 2, "scale": 1.5, "shift": 0.0, "fast": False,
                             "limit": None, "label": "x", "inner": {"seed": 3}}
    assert "goes on to a second line" in form.widget("size").toolTip()
    assert form.widget("shift").toolTip() == "shift: two numbers."


def test_build_and_validate(qtbot):
    form = ConfigForm(Settings, values={"size": 4, "limit": 2.5, "inner.seed": 9})
    qtbot.addWidget(form)
    built = form.config(label="fixed")
    assert built == Settings(size=4, limit=2.5, label="fixed", inner=Inner(seed=9))
    form.set_value("size", 0)
    assert form.config() is None and form.error() == "size must be at least 1, got 0"
    assert form.widget("size").styleSheet() and not form.widget("scale").styleSheet()
    form.set_value("size", 1)
    form.widget("scale").setText("big")
    assert form.config() is None and form.error() == "scale: 'big' is not a number"
    form.widget("scale").setText("inf")
    assert form.config() is None and "not a finite number" in form.error()


def test_only_some_fields_and_fixed_choices(qtbot):
    form = ConfigForm(GanConfig, fields=["data", "steps"], choices={"data": ("ring8", "grid25")},
                      values={"steps": 50})
    qtbot.addWidget(form)
    assert list(form.fields) == ["data", "steps"] and form.fields["data"].choices == ("ring8", "grid25")
    config = form.config(log_every=5)
    assert isinstance(config, GanConfig) and config.steps == 50 and config.log_every == 5
    with pytest.raises(ValueError, match="no editable field"):
        ConfigForm(GanConfig, fields=["placement"])


def test_docs_and_choices_of_the_engine_configs():
    from chemaccel.prune import PruneConfig

    docs = field_docs(GanConfig)
    assert docs["beta1"] == docs["beta2"] == "Adam betas."
    assert module_choices(PruneConfig, "granularity") == ("unstructured", "structured")
    assert module_choices(PruneConfig, "loss") == ("cross_entropy", "mse")
    assert module_choices(GanConfig, "ortho_on") == ("features", "outputs", "weights")
    assert module_choices(PruneConfig, "budget") == ()
