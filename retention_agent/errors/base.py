"""The base of the catalogue: exit codes, :class:`RetentionAgentError`, and lookups over every class."""

from __future__ import annotations

from typing import Any, ClassVar

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_INTEGRITY = 4


def _fill(text: str, params: Any) -> str:
    """A translated parameter may hold {placeholders} of the other parameters ("unknown item {item}")."""
    try:
        return str(text.format_map(params))
    except (ValueError, IndexError, AttributeError):  # braces that are no placeholder: the text as it is
        return text


class RetentionAgentError(Exception):
    error_id: ClassVar[str] = "error"
    exit_code: ClassVar[int] = EXIT_ERROR
    message: ClassVar[str] = "Something went wrong."
    hint: ClassVar[str] = ""
    # parameters that hold an English text of the catalogue (marked with N_) rather than a value
    translated_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.render("en"))

    def render(self, lang: str = "nl") -> str:
        from retention_agent.i18n.catalogue import count_of, people_params, translate

        params = _Lenient(people_params(self.params, lang))
        if isinstance(params.get("state"), str):  # a delivery's state is a word of the catalogue too
            params["state"] = translate(params["state"], lang)
        for name in self.translated_params:
            if isinstance(params.get(name), str):
                params[name] = _fill(translate(params[name], lang), params)
        text = translate(self.message, lang, count_of(self.params)).format_map(params)
        if self.hint:
            text += "\n" + translate("hint:", lang) + " " + translate(self.hint, lang).format_map(params)
        return text

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.error_id, "params": {k: _plain(v) for k, v in self.params.items()}}


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None) | list) else str(value)


def catalogue() -> list[type[RetentionAgentError]]:
    """Every error class, in definition order (for documentation and the translation test)."""
    found: list[type[RetentionAgentError]] = []
    stack: list[type[RetentionAgentError]] = [RetentionAgentError]
    while stack:
        cls = stack.pop(0)
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def by_id(error_id: str) -> type[RetentionAgentError]:
    for cls in catalogue():
        if cls.error_id == error_id:
            return cls
    return RetentionAgentError
