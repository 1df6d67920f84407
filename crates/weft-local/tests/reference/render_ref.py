#!/usr/bin/env python3
"""Renders chat templates with Jinja2 the way Hugging Face transformers does.

The reference for weft-local's minijinja renderer. The environment copies
`transformers`' `apply_chat_template` (utils/chat_template_utils.py): an
`ImmutableSandboxedEnvironment` with `trim_blocks`, `lstrip_blocks` and the
loop-controls extension, a `tojson` filter calling `json.dumps` with
`ensure_ascii=False`, and the `raise_exception` and `strftime_now` globals
(`strftime_now` answers for the case's fixed `date`, at midnight).

Usage:

    render_ref.py < cases.json > outputs.json

`cases.json` is a JSON list of cases:

    {"template": "path/to/template.jinja", "messages": [...], "tools": [...] or null,
     (messages and tools may also be given as JSON text, to fix their key order)
     "add_generation_prompt": true, "bos_token": "...", "eos_token": "...",
     "date": "2024-09-15", "extra": {"enable_thinking": false}}

The output is a JSON list of the rendered strings. Requirement: `pip install jinja2`.
"""

import datetime
import json
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _json(value):
    """A JSON value, or JSON text parsed (keeping its key order)."""
    return json.loads(value) if isinstance(value, str) else value


def render(case):
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    date = datetime.datetime.strptime(case.get("date", "2024-07-26"), "%Y-%m-%d")
    env.globals["strftime_now"] = lambda fmt: date.strftime(fmt)
    with open(case["template"], encoding="utf-8") as f:
        template = env.from_string(f.read())
    kwargs = dict(case.get("extra") or {})
    return template.render(
        messages=_json(case["messages"]),
        tools=_json(case.get("tools")),
        add_generation_prompt=case.get("add_generation_prompt", False),
        bos_token=case.get("bos_token", ""),
        eos_token=case.get("eos_token", ""),
        **kwargs,
    )


def main():
    cases = json.load(sys.stdin)
    json.dump([render(c) for c in cases], sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
