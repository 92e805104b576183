"""A settings form generated from an engine's config dataclass (``PruneConfig``, ``GanConfig``, ...).

Each field becomes a widget by its type hint: ``int`` a spin box, ``float`` a line edit (checked as a
number), ``bool`` a check box, ``str`` a combo box when the config's module has a tuple of its choices
(``target`` -> ``TARGETS``, ``ortho_on`` -> ``ORTHO_ON``; or given by the caller) and a line edit
otherwise, ``X | None`` a line edit where blank means None. A nested config dataclass (``runtime``)
is expanded as ``runtime.seed`` etc. Other types (tuples) keep their defaults. The tooltips are the
field descriptions of the dataclass's docstring ("Attributes:").

Validation is the dataclass's own: :meth:`ConfigForm.config` builds it and shows its ConfigError text
inline, under the form, with the offending field marked. The GUI never re-implements the rules.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api

INT_RANGE = (0, 2_000_000_000)
INVALID_STYLE = "border: 1px solid #be1414; background: #fff0f0;"
ERROR_STYLE = "color: #be1414;"


class FieldError(ValueError):
    """A form value that is not even of the field's type ("budget: 'x' is not a number")."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclasses.dataclass
class FormField:
    """One field of the form: its dotted name (``runtime.seed``), type, widget and how to read it."""

    name: str
    kind: str  # "int", "float", "bool", "choice", "str", "optional"
    base: type | None
    widget: QWidget
    choices: tuple[str, ...] = ()


def field_docs(cls: type) -> dict[str, str]:
    """Field descriptions from a Google-style "Attributes:" section (``a, b: text`` covers both)."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").splitlines()
    inside, names, indent = False, [], 0
    for line in lines:
        stripped = line.strip()
        if stripped == "Attributes:":
            inside, indent = True, len(line) - len(line.lstrip()) + 4
            continue
        if not inside:
            continue
        if stripped and len(line) - len(line.lstrip()) < indent:
            break
        at_indent = len(line) - len(line.lstrip()) == indent
        match = re.match(r"^([A-Za-z_][\w, ]*):\s*(.*)$", stripped) if at_indent else None
        if match:
            names = [n.strip() for n in match.group(1).split(",") if n.strip()]
            for name in names:
                docs[name] = match.group(2)
        elif stripped and names:
            for name in names:
                docs[name] += " " + stripped
    return docs


def module_choices(cls: type, name: str) -> tuple[str, ...]:
    """The tuple of allowed strings for field ``name`` that the config's module defines, if any:
    ``NAME``, ``NAMES``, ``NAMEES``, ``NAMIES`` (y -> ies) or ``NAME_KINDS``."""
    module = sys.modules.get(cls.__module__)
    upper = name.upper()
    candidates = [upper, upper + "S", upper + "ES", upper + "_KINDS", upper + "_CHOICES"]
    if upper.endswith("Y"):
        candidates.append(upper[:-1] + "IES")
    for candidate in candidates:
        value = getattr(module, candidate, None)
        if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            return value
    return ()


def _classify(hint: Any) -> tuple[str, type | None]:
    """``(kind, base type)`` for a type hint; kind "" for a type the form does not edit."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and args[0] in (int, float, str):
            return "optional", args[0]
        return "", None
    if hint is bool:
        return "bool", bool
    if hint is int:
        return "int", int
    if hint is float:
        return "float", float
    if hint is str:
        return "str", str
    if dataclasses.is_dataclass(hint):
        return "nested", hint
    return "", None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class ConfigForm(QWidget):
    """A form for a config dataclass.

    Args:
        config_cls: the dataclass (``PruneConfig``); it validates itself when built.
        fields: dotted names to show, in order (default: every editable field, nested ones expanded).
        values: starting values by dotted name (default: the dataclass defaults).
        choices: allowed strings by dotted name, overriding :func:`module_choices`.
        hidden: dotted names never shown (the caller supplies them, e.g. ``runtime.device``).
    """

    def __init__(self, config_cls: type, fields: Iterable[str] | None = None,
                 values: Mapping[str, Any] | None = None,
                 choices: Mapping[str, tuple[str, ...]] | None = None, hidden: Iterable[str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("configForm")
        self.config_cls = config_cls
        self._choices = dict(choices or {})
        self._hidden = set(hidden)
        self.fields: dict[str, FormField] = {}
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.form.setVerticalSpacing(3)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("configError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.form)
        layout.addWidget(self.error_label)
        available = self._available(config_cls, "")
        wanted = list(fields) if fields is not None else list(available)
        for name in wanted:
            if name not in available:
                raise ValueError(f"{config_cls.__name__} has no editable field {name!r}")
            if name not in self._hidden:
                self._add_field(name, *available[name])
        for name, value in (values or {}).items():
            self.set_value(name, value)

    # ------------------------------------------------------------------------------------------ build

    def _available(self, cls: type, prefix: str) -> dict[str, tuple[type, Any, str]]:
        """dotted name -> (owning class, default, kind) for every editable field of ``cls``."""
        hints = typing.get_type_hints(cls)
        out: dict[str, tuple[type, Any, str]] = {}
        for f in dataclasses.fields(cls):
            kind, base = _classify(hints.get(f.name))
            if not kind:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            if kind == "nested":
                out.update(self._available(base, f"{prefix}{f.name}."))
            else:
                out[prefix + f.name] = (cls, default, kind)
        return out

    def _add_field(self, name: str, owner: type, default: Any, kind: str) -> None:
        short = name.rsplit(".", 1)[-1]
        base = typing.get_type_hints(owner).get(short)
        kind, base = _classify(base)
        choices = self._choices.get(name) or (module_choices(owner, short) if kind == "str" else ())
        if kind == "str" and choices:
            kind = "choice"
        if kind == "bool":
            widget: QWidget = QCheckBox(self)
        elif kind == "int":
            widget = QSpinBox(self)
            widget.setRange(*INT_RANGE)
            widget.setGroupSeparatorShown(False)
        elif kind == "choice":
            widget = QComboBox(self)
            widget.addItems(list(choices))
        else:
            widget = QLineEdit(self)
            if kind == "optional":
                widget.setPlaceholderText("none")
        widget.setObjectName(f"field_{name.replace('.', '_')}")
        doc = field_docs(owner).get(short, "")
        widget.setToolTip(f"{name}: {doc}" if doc else name)
        label = QLabel(name.replace("_", " ") + ":", self)
        label.setToolTip(widget.toolTip())
        self.form.addRow(label, widget)
        self.fields[name] = FormField(name, kind, base, widget, tuple(choices))
        self.set_value(name, default)

    # ----------------------------------------------------------------------------------------- values

    def widget(self, name: str) -> QWidget:
        return self.fields[name].widget

    def set_value(self, name: str, value: Any) -> None:
        """Put a value in the widget of ``name`` (a hidden or unknown name is ignored)."""
        field = self.fields.get(name)
        if field is None:
            return
        w = field.widget
        if field.kind == "bool":
            w.setChecked(bool(value))
        elif field.kind == "int":
            w.setValue(int(value))
        elif field.kind == "choice":
            index = w.findText(str(value))
            if index < 0:
                w.addItem(str(value))
                index = w.count() - 1
            w.setCurrentIndex(index)
        else:
            w.setText(_text(value))

    def value(self, name: str) -> Any:
        """The value of one field, typed (raises :class:`FieldError` for text that is not a number)."""
        field = self.fields[name]
        w = field.widget
        if field.kind == "bool":
            return w.isChecked()
        if field.kind == "int":
            return int(w.value())
        if field.kind == "choice":
            return w.currentText()
        text = w.text().strip()
        if field.kind == "str":
            return text
        if field.kind == "optional" and not text:
            return None
        if field.base is str:
            return text
        try:
            number = float(text) if field.base is float else int(text)
        except ValueError:
            what = "a number" if field.base is float else "an integer"
            raise FieldError(name, f"{name}: {text!r} is not {what}") from None
        if field.base is float and not math.isfinite(number):
            raise FieldError(name, f"{name}: {text!r} is not a finite number")
        return number

    def values(self) -> dict[str, Any]:
        """Every shown field as a nested dict (``{"runtime": {"seed": 0}}``)."""
        out: dict[str, Any] = {}
        for name in self.fields:
            target = out
            *parents, last = name.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[last] = self.value(name)
        return out

    # ------------------------------------------------------------------------------------ validation

    def config(self, **fixed: Any) -> Any:
        """Build the dataclass from the form (plus ``fixed`` values, nested dicts merged); None when it is
        invalid: the reason is then shown under the form and the field it names is marked."""
        self.clear_error()
        try:
            values = _merge(self.values(), fixed)
            if hasattr(self.config_cls, "from_dict"):
                return self.config_cls.from_dict(values)
            return _build(self.config_cls, values)
        except FieldError as exc:
            self.show_error(str(exc), exc.name)
        except (api.ConfigError, TypeError, ValueError) as exc:
            self.show_error(" ".join(str(exc).split()))
        return None

    def show_error(self, message: str, name: str | None = None) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        name = name or self._named_in(message)
        if name in self.fields:
            self.fields[name].widget.setStyleSheet(INVALID_STYLE)

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()
        for field in self.fields.values():
            field.widget.setStyleSheet("")

    def error(self) -> str:
        """The message shown under the form ("" when none)."""
        return self.error_label.text()

    def _named_in(self, message: str) -> str | None:
        """The field a ConfigError is about: the first field name in the message (longest names first)."""
        found: list[tuple[int, int, str]] = []
        for name in self.fields:
            short = name.rsplit(".", 1)[-1]
            match = re.search(rf"\b{re.escape(short)}\b", message)
            if match:
                found.append((match.start(), -len(short), name))
        return min(found)[2] if found else None


def _build(cls: type, values: Mapping[str, Any]) -> Any:
    """``cls(**values)`` with nested dicts turned into their nested dataclasses."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        hint = hints.get(key)
        nested = isinstance(value, Mapping) and dataclasses.is_dataclass(hint)
        kwargs[key] = _build(hint, value) if nested else value
    return cls(**kwargs)


def _merge(values: dict[str, Any], fixed: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, value in fixed.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
