"""Observable properties for the UI's small models: `name` plus a `name_changed` signal that fires only
on a real change, so widgets bind to the model rather than to each other (krita-ai-diffusion's habit)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Observable(Generic[T]):
    """A property of a QObject whose class declares a matching `<name>_changed` Signal."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.storage_name = f"_observable_{name}"

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            return self  # type: ignore[return-value]
        return getattr(instance, self.storage_name, self.default)

    def __set__(self, instance: Any, value: T) -> None:
        if getattr(instance, self.storage_name, self.default) == value:
            return
        setattr(instance, self.storage_name, value)
        getattr(instance, f"{self.name}_changed").emit(value)


def observable_names(model: object) -> list[str]:
    """The observable property names of a model, in declaration order (used by settings)."""
    names: list[str] = []
    for klass in reversed(type(model).__mro__):
        for name, attribute in vars(klass).items():
            if isinstance(attribute, Observable) and name not in names:
                names.append(name)
    return names
