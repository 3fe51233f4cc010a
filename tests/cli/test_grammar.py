"""The command-line grammar and the dispatch table come from one registration: every command
the parser accepts has a handler that exists, and the help lists every one of them."""

from __future__ import annotations

import importlib
import re

from core.cli.grammar import commands


def test_every_command_the_parser_accepts_has_a_handler() -> None:
    declared = commands()
    usage = declared.parser.format_usage()

    accepted = re.search(r"\{(.+?)\}", usage)

    assert accepted
    assert accepted[1].split(",") == list(declared.handlers)


def test_every_handler_is_a_function_of_its_command_module() -> None:
    missing = []
    for name, handler in commands().handlers.items():
        module, function = handler.split(":")
        if not callable(getattr(importlib.import_module(module), function, None)):
            missing.append(f"{name}: {handler}")

    assert missing == []


def test_the_help_lists_every_command() -> None:
    declared = commands()

    listed = re.findall(r"^ {4}(\S+)", declared.parser.format_help(), re.MULTILINE)

    assert listed == list(declared.handlers)
    assert {"init", "register", "drift", "kpi", "approve", "explain", "demo"} <= set(listed)
