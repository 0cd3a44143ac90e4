"""Prints the README's table of configuration variables, read from the settings classes.

    python -m scripts.config_table

The README embeds this output between markers; a test fails when the two differ, so the
table cannot drift from the code.
"""

from __future__ import annotations

import json

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from services.common.config import (
    CallerSettings,
    CommonSettings,
    DatabaseSettings,
    SecuritySettings,
    ServiceAddresses,
)
from services.embedder.config import EmbedderSettings
from services.orchestrator.config import ClaudeSettings, GatewaySettings, OrchestratorSettings
from services.retriever.config import RetrieverSettings

SECTIONS: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("every service", CommonSettings),
    ("every caller of a service", ServiceAddresses),
    ("every program (TLS, auth)", SecuritySettings),
    ("command-line clients", CallerSettings),
    ("embedder", EmbedderSettings),
    # Before the retriever and the orchestrator, which both inherit these variables.
    ("orchestrator and retriever (database)", DatabaseSettings),
    ("retriever", RetrieverSettings),
    # Before the orchestrator, which inherits these variables: each row says who declares it.
    ("orchestrator (Claude agent)", ClaudeSettings),
    ("orchestrator", OrchestratorSettings),
    ("gateway", GatewaySettings),
)
BEGIN = "<!-- config-table:begin -->"
END = "<!-- config-table:end -->"


def variable(settings_cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return f"{prefix}{name}".upper()


def default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value == "":
        return "unset"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    if isinstance(value, list):
        return f"`{','.join(map(str, value))}`"
    if isinstance(value, dict):
        return f"`{json.dumps(value, separators=(',', ':'))}`"
    return f"`{value}`"


def constraints(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        for key, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(item, key, None)
            if bound is not None:
                parts.append(f"{symbol} {bound}")
    annotation = str(field.annotation)
    if "Literal" in annotation:
        parts.append("one of " + annotation.split("[", 1)[1].rstrip("]").replace("'", ""))
    return ", ".join(parts)


def render() -> str:
    lines = [BEGIN, "| variable | used by | default | meaning |", "|---|---|---|---|"]
    seen: set[str] = set()
    for section, settings_cls in SECTIONS:
        for name, field in settings_cls.model_fields.items():
            env = variable(settings_cls, name, field)
            if env in seen:
                continue
            seen.add(env)
            meaning = (field.description or "").replace("|", "/")
            bounds = constraints(field)
            if bounds:
                meaning = f"{meaning} ({bounds})" if meaning else f"({bounds})"
            lines.append(f"| `{env}` | {section} | {default(field)} | {meaning} |")
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
