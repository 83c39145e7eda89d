"""MkDocs hook: the command-line reference (docs/cli.md) generated from the options classes.

The page's ``<!-- cli-reference -->`` is replaced by one section per command: its description,
then a table of its arguments (flag, default, help text) as ``crmss <command> --help`` shows
them, taken from the same place the command line takes them (crmss/core/options.py through
crmss/cli.py), so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crmss import cli
from crmss.core.options import CloudParameters, SimulateOptions
from crmss.core.validation import bare_type, choices_of, flag_of, shown

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the marker of the page that holds it (MkDocs calls this for every page)."""
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown


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
        value = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        default = "required" if value is dataclasses.MISSING else f"`{shown(value)}`"
        help_text = field.metadata["help"].format(default=shown(value)).replace("|", "\\|")
        rows.append(f"| {shown_flag} | {default} | {help_text} |")
    return rows
