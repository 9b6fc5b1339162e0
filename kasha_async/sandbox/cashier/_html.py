"""Server-rendered HTML of the cashier and 3DS pages: no JavaScript, no external fetch.

Pure functions from data to text. Every value that reaches the page goes through
:func:`esc`; a form field's ``name`` is its ``formInputs`` name, unwrapped, and its
browser-side rules (``required``, ``minlength``, ``maxlength``, ``pattern``, a
``<select>`` for enumerated values) come from the same :class:`FormInput` the
server checks again with the SDK's form rules.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..._models import FormInput

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f8;color:#1d2330;
margin:0;padding:2rem 1rem}
main{max-width:30rem;margin:0 auto;background:#fff;border-radius:10px;padding:1.5rem 1.8rem;
box-shadow:0 2px 10px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
.muted{color:#667;font-size:.9rem}
label{display:block;margin:.8rem 0 .25rem;font-weight:600;font-size:.92rem}
input,select{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #b8bfcc;
border-radius:6px}
button{margin:1.1rem .5rem 0 0;padding:.6rem 1.3rem;font-size:1rem;border:0;border-radius:6px;
background:#2453d4;color:#fff;cursor:pointer}
button.secondary{background:#e4e7ee;color:#1d2330}
.options a{display:block;padding:.75rem 1rem;margin:.45rem 0;border:1px solid #ccd3e0;
border-radius:6px;color:#1d2330;text-decoration:none;font-weight:600}
.errors{background:#fdecec;border:1px solid #e6a3a3;border-radius:6px;padding:.5rem 1rem}
.declined{color:#b3261e}footer{margin-top:1.5rem;color:#889;font-size:.8rem}
"""


def esc(value: object) -> str:
    """``value`` as HTML text or attribute content (quotes escaped too)."""
    return html.escape(str(value), quote=True)


@attrs.frozen(kw_only=True)
class Page:
    """One page: language, title, body (already HTML), and an optional meta refresh."""

    lang: str
    title: str
    body: str
    footer: str
    refresh_to: str | None = None
    refresh_seconds: int = 2

    def render(self) -> str:
        """The whole document."""
        refresh = ""
        if self.refresh_to is not None:
            target = esc(f"{self.refresh_seconds};url={self.refresh_to}")
            refresh = f'<meta http-equiv="refresh" content="{target}">'
        return (
            f'<!doctype html><html lang="{esc(self.lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"{refresh}<title>{esc(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{self.body}<footer>{esc(self.footer)}</footer></main></body></html>"
        )


#: Browser autofill hints for the card inputs (the ``name`` stays the formInputs name).
_AUTOCOMPLETE = {
    "cardnum": "cc-number",
    "cardholder": "cc-name",
    "expirymonth": "cc-exp-month",
    "expiryyear": "cc-exp-year",
    "cardcvv": "cc-csc",
}


def _choices(values: Iterable[Any]) -> list[tuple[str, str]]:
    """(value, label) pairs of an enumerated input; entries are scalars or objects."""
    pairs = []
    for entry in values:
        if isinstance(entry, Mapping):
            value = entry.get("value", entry.get("id"))
            label = entry.get("label", entry.get("name", value))
        else:
            value = label = entry
        if value is not None:
            pairs.append((str(value), str(label)))
    return pairs


def _select(name: str, choices: Sequence[tuple[str, str]], chosen: str, required: bool) -> str:
    rows = ['<option value="">—</option>'] if len(choices) != 1 else []
    for value, label in choices:
        selected = " selected" if value == chosen else ""
        rows.append(f'<option value="{esc(value)}"{selected}>{esc(label)}</option>')
    flag = " required" if required else ""
    return f'<select id="f-{esc(name)}" name="{esc(name)}"{flag}>{"".join(rows)}</select>'


def field(form_input: FormInput, value: str = "") -> str:
    """The label and control of one form input, with the browser-side rules of its validations."""
    name = form_input.name
    label = f'<label for="f-{esc(name)}">{esc(form_input.label or name)}</label>'
    choices = _choices(form_input.values)
    if choices:
        return label + _select(name, choices, value, form_input.required)
    attributes = [f'id="f-{esc(name)}"', f'name="{esc(name)}"', 'type="text"']
    attributes.append(f'autocomplete="{_AUTOCOMPLETE.get(name, "off")}"')
    if form_input.required:
        attributes.append("required")
    rules = form_input.validations
    if rules is not None:
        if rules.min_length is not None:
            attributes.append(f'minlength="{rules.min_length}"')
        if rules.max_length is not None:
            attributes.append(f'maxlength="{rules.max_length}"')
        if rules.pattern:
            attributes.append(f'pattern="{esc(rules.pattern)}"')
    if value:
        attributes.append(f'value="{esc(value)}"')
    return f"{label}<input {' '.join(attributes)}>"


def suboption_field(
    label: str, prompt: str, suboptions: Sequence[tuple[str, str]], chosen: str = ""
) -> str:
    """The bank choice: a required ``<select name="optionId">``, on the same form as the inputs."""
    control = _select("optionId", suboptions, chosen, required=True)
    return (
        f'<label for="f-optionId">{esc(label)} <span class="muted">{esc(prompt)}</span></label>'
        + (control)
    )


def problems_box(heading: str, problems: Sequence[str]) -> str:
    """The list of what the server refused, above the form."""
    if not problems:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in problems)
    box = '<div class="errors" id="f-errors" role="alert">'
    return f"{box}<p>{esc(heading)}</p><ul>{items}</ul></div>"


def form(hidden: Mapping[str, str], fields: Sequence[str], submit: str) -> str:
    """One POST form (to the page's own URL) with one submit button."""
    inputs = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in hidden.items()
    )
    return (
        f'<form method="post" id="cashier-form">{inputs}{"".join(fields)}'
        f'<button type="submit" id="submit">{esc(submit)}</button></form>'
    )


def option_links(links: Sequence[tuple[str, str]]) -> str:
    """The list of payment methods, each a plain link to its form."""
    items = "".join(f'<a href="{esc(href)}">{esc(name)}</a>' for href, name in links)
    return f'<nav class="options" id="options">{items}</nav>'


def link(href: str, text: str, element_id: str) -> str:
    """A paragraph holding one plain link."""
    return f'<p><a href="{esc(href)}" id="{esc(element_id)}">{esc(text)}</a></p>'


def heading(title: str, subtitle: str) -> str:
    """The page's ``<h1>`` and a muted line under it."""
    return f'<h1>{esc(title)}</h1><p class="muted">{esc(subtitle)}</p>'


def message(
    title: str, text: str, *, css: str = "", back_to: str | None = None, back: str = ""
) -> str:
    """A page that only tells something (error, decline, closed challenge), never a form."""
    anchor = link(back_to, back, "back") if back_to else ""
    klass = f' class="{esc(css)}"' if css else ""
    return f'<h1{klass} id="message">{esc(title)}</h1><p id="detail">{esc(text)}</p>{anchor}'


def challenge(title: str, text: str, buttons: Sequence[tuple[str, str, str]]) -> str:
    """The 3DS page: one form whose buttons post ``action`` (authenticate, fail, abandon)."""
    rows = "".join(
        f'<button type="submit" name="action" value="{esc(v)}" id="{esc(v)}" class="{esc(c)}">'
        f"{esc(label)}</button>"
        for v, label, c in buttons
    )
    return (
        f'<h1>{esc(title)}</h1><p>{esc(text)}</p><form method="post" id="challenge">{rows}</form>'
    )
