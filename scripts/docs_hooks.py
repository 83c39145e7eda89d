"""MkDocs hook: the references generated from the options classes.

``<!-- cli-reference -->`` (docs/cli.md) is replaced by one section per command: its
description, then a table of its arguments (flag, default, help text) as ``crmss <command>
--help`` shows them; ``<!-- fields: PredictOptions -->`` (docs/reference.md) by the table of
that options class's fields as Python takes them (keyword, default, help text). Both come from
the place the command line and the API take them (crmss/core/options.py), so the references
cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import crmss
from crmss import cli
from crmss.core.options import CloudParameters, SimulateOptions
from crmss.core.validation import bare_type, choices_of, flag_of, shown

MARKER = "<!-- cli-reference -->"
FIELDS = re.compile(r"<!-- fields: (\w+) -->")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the markers of the page that holds them (MkDocs calls this for every page)."""
    markdown = markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
    return FIELDS.sub(lambda found: field_table(getattr(crmss, found[1])), markdown)


def field_table(options: type) -> str:
    """The fields of an options class as Python takes them: keyword, default, help text."""
    rows = ["| field | default | what it does |", "|---|---|---|"]
    for field in dataclasses.fields(options):
        value = _default(field)
        if value is dataclasses.MISSING:
            default = "required"
        else:
            default = (
                f"`{type(value).__name__}()`" if dataclasses.is_dataclass(value) else f"`{value!r}`"
            )
        rows.append(f"| `{field.name}` | {default} | {_help(field, value)} |")
    return "\n".join(rows)


def _default(field: dataclasses.Field) -> Any:
    return (
        field.default_factory()
        if field.default_factory is not dataclasses.MISSING
        else field.default
    )


def _help(field: dataclasses.Field, value: Any) -> str:
    return field.metadata["help"].format(default=shown(value)).replace("|", "\\|")


def cli_reference() -> str:
    """Every command of ``crmss``: its description and the table of its arguments."""
    sections = []
    for name, (options, summary, description) in cli.COMMANDS.items():
        classes = (options, CloudParameters) if options is SimulateOptions else (options,)
        rows = [row for owner in classes for row in _rows(owner)]
        table = "\n".join(["| argument | default | what it does |", "|---|---|---|", *rows])
        sections.append(f"## crmss {name}\n\n*{summary}.*\n\n{description}\n\n{table}\n")
    return "\n".join(sections)


def _rows(options: type) -> list[str]:
    rows = []
    for field in dataclasses.fields(options):
        kind = bare_type(options, field.name)
        if dataclasses.is_dataclass(kind):
            continue  # nested options: their own rows
        flag = flag_of(field)
        if kind is bool and field.default is True:
            flag = f"--no-{field.name.replace('_', '-')}"
        choices = choices_of(options, field.name)
        shown_flag = f"`{flag}`" + (f" {{{', '.join(choices)}}}" if choices else "")
        value = _default(field)
        default = "required" if value is dataclasses.MISSING else f"`{shown(value)}`"
        rows.append(f"| {shown_flag} | {default} | {_help(field, value)} |")
    return rows
