"""The RSVP pages: plain HTML, no script, no account; GET only shows, a form POST answers (so a
mail system's link scanner following the link answers nothing)."""
from __future__ import annotations

from html import escape

from aiohttp import web

from scheduling import imip

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}"
          "dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{color:#666}"
          "button{font-size:1rem;padding:.5rem 1rem;margin:.3rem .5rem .3rem 0;cursor:pointer}"
          "button.chosen{font-weight:bold;outline:3px solid #36c}")
SHOWN = {"ACCEPTED": "accepted", "TENTATIVE": "maybe", "DECLINED": "declined", "NEEDS-ACTION": "not answered yet"}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>")
    return web.Response(text=html, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _facts(facts: dict[str, str]) -> str:
    rows = [("What", facts["summary"]), ("When", facts["when"]), ("Where", facts["location"]),
            ("Organizer", facts["organizer"])]
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in rows if v) + "</dl>"


def question(facts: dict[str, str], current: str, chosen: str | None) -> web.Response:
    buttons = "".join(
        f'<button type="submit" name="answer" value="{answer.lower()}"'
        f'{" class=chosen autofocus" if answer == chosen else ""}>{label}</button>'
        for answer, label in imip.ANSWERS.items())
    ask = (f"<p>Confirm your answer: <strong>{escape(imip.ANSWERS[chosen])}</strong>.</p>" if chosen
           else "<p>Will you attend?</p>")
    return _page("Your invitation", _facts(facts) + f"<p>Your answer so far: {SHOWN.get(current, current.lower())}.</p>"
                 + ask + f'<form method="post">{buttons}</form>')


def answered(facts: dict[str, str], answer: str) -> web.Response:
    return _page("Thank you", _facts(facts) + f"<p>Your answer, <strong>{escape(SHOWN[answer])}</strong>, "
                 "has been sent to the organizer. You can change it with the same link until the event is over.</p>")


def refused(status: int, reason: str) -> web.Response:
    return _page("This link cannot be used", f"<p>{escape(reason)[:1].upper() + escape(reason)[1:]}.</p>", status)
