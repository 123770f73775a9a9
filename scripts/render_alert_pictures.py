"""Draw what an alert looks like on Slack and on Discord, from the adapters' own renderers.

A sample digest (two events, one reported by three outlets) goes through
``adapters/slack/render.py`` and ``adapters/discord/render.py`` exactly as the bot sends
it, buttons included; each payload is then drawn as an SVG card laid out from the
payload's real fields (Slack's header, sections and actions blocks; Discord's content,
embeds and button rows). So when a renderer changes, the pictures change with it:
``tests/test_docs.py`` fails when the committed files differ from what this draws.

    python scripts/render_alert_pictures.py            # rewrite docs/img/alert-*.svg
    python scripts/render_alert_pictures.py --check    # exit 1 if they are out of date

The drawing is an approximation of each client's look (no fonts are measured: text is
wrapped by an estimate of its width), not a screenshot.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.discord.render import DiscordMessage, render_embeds
from adapters.slack.render import render_blocks
from botsvc.models import Digest, DigestEvent, DigestStory

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
WIDTH = 640
FONT = "Lato, 'Segoe UI', 'Noto Sans', 'Noto Sans CJK KR', 'Noto Sans CJK JP', Helvetica, Arial, sans-serif"


def sample_digest() -> Digest:
    """A realtime digest as a Seoul channel would get it: one event three outlets reported, one new."""

    def at(hour: int, minute: int) -> datetime:
        return datetime(2019, 8, 22, hour, minute, tzinfo=timezone.utc)

    gsomia = DigestEvent(
        event_id=41,
        headline=DigestStory(
            title="South Korea to end GSOMIA intelligence-sharing pact with Japan",
            source="Yonhap",
            link="https://koreadesk.example.org/news/gsomia-ends",
            published=at(10, 0),
        ),
        others=(
            DigestStory("韓国政府、GSOMIAの破棄を日本に通告", "Kyodo", "https://kyodo.example.jp/gsomia", at(10, 40)),
            DigestStory("지소미아 종료 결정", "The Korea Herald", "https://herald.example.kr/gsomia", at(11, 5)),
        ),
    )
    export = DigestEvent(
        event_id=42,
        headline=DigestStory(
            title="Japan tightens export controls on chip materials bound for South Korea",
            source="Nikkei Asia",
            link="https://nikkei.example.com/export-controls",
            published=at(11, 30),
        ),
    )
    return Digest(
        title="Japan–South Korea security & trade",
        events=(gsomia, export),
        generated_at=at(11, 32),
        zone="Asia/Seoul",
    )


# --- text layout ------------------------------------------------------------------------


def _width(text: str, size: float, bold: bool = False) -> float:
    """Estimated rendered width: wide (CJK) characters take a full em, others a little over half."""
    wide = sum(1 for c in text if unicodedata.east_asian_width(c) in "WF")
    return size * (wide + (0.62 if bold else 0.56) * (len(text) - wide))


def _wrap(text: str, size: float, room: float, bold: bool = False) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in re.split(r"(?<= )", text):
        if current and _width(current + word, size, bold) > room:
            lines.append(current.rstrip())
            current = ""
        while _width(word, size, bold) > room:  # a run without spaces (Japanese): break by width
            cut = len(word)
            while cut > 1 and _width(word[:cut], size, bold) > room:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current += word
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


class Canvas:
    """SVG elements stacked from the top; ``y`` is where the next one starts."""

    def __init__(self, background: str) -> None:
        self.background = background
        self.parts: list[str] = []
        self.y = 20.0

    def text(self, x: float, text: str, *, size: float = 14, color: str, weight: str = "normal") -> None:
        self.parts.append(
            f'<text x="{x:.0f}" y="{self.y + size:.0f}" font-size="{size:g}" font-weight="{weight}" '
            f'fill="{color}">{html.escape(text)}</text>'
        )

    def paragraph(self, x: float, text: str, room: float, **style: Any) -> None:
        size = style.get("size", 14)
        for line in _wrap(text, size, room, style.get("weight") == "bold"):
            self.text(x, line, **style)
            self.y += size * 1.45

    def rect(self, x: float, y: float, w: float, h: float, fill: str, *, radius: float = 4, stroke: str = "") -> None:
        outline = f' stroke="{stroke}"' if stroke else ""
        self.parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="{radius:g}" fill="{fill}"{outline}/>'
        )

    def button(self, x: float, label: str, fill: str, color: str, stroke: str = "") -> float:
        """A button at ``x`` on the current line; returns the x after it."""
        width = _width(label, 13, True) + 24
        self.rect(x, self.y, width, 28, fill, stroke=stroke)
        self.parts.append(
            f'<text x="{x + width / 2:.0f}" y="{self.y + 18.5:.0f}" font-size="13" font-weight="bold" '
            f'text-anchor="middle" fill="{color}">{html.escape(label)}</text>'
        )
        return x + width + 8

    def author(self, x: float, name: str, badge: str, badge_text: str, when: str, when_color: str, color: str) -> None:
        """The poster's name, its APP badge and the time, on one line."""
        self.text(x, name, size=15, color=color, weight="bold")
        badge_x = x + _width(name, 15, True) + 6
        self.rect(badge_x, self.y + 2, 30, 16, badge, radius=3)
        self.parts.append(
            f'<text x="{badge_x + 15:.0f}" y="{self.y + 14:.0f}" font-size="10" font-weight="bold" '
            f'text-anchor="middle" fill="{badge_text}">APP</text>'
        )
        self.text(badge_x + 38, when, size=12, color=when_color)
        self.y += 26

    def svg(self, title: str) -> str:
        height = round(self.y + 16)
        return "\n".join(
            [
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
                f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" role="img">',
                f"<title>{html.escape(title)}</title>",
                f'<rect width="{WIDTH}" height="{height}" rx="8" fill="{self.background}"/>',
                *self.parts,
                "</svg>",
                "",
            ]
        )


# --- Slack ------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<([^|>]+)\|([^>]*)>")


def _slack_spans(mrkdwn: str) -> list[tuple[str, bool, bool]]:
    """A mrkdwn line as (text, bold, link) spans: the markup the renderer emits, entities undone."""
    bold = mrkdwn.startswith("*") and mrkdwn.endswith("*") and len(mrkdwn) > 1
    body = mrkdwn[1:-1] if bold else mrkdwn
    link = _SLACK_LINK.fullmatch(body)
    text = link.group(2) if link else body
    return [(html.unescape(text), bold, link is not None)]


def draw_slack(payload: dict[str, Any], posted: str) -> str:
    """One Block Kit payload as a message in a Slack channel (light theme)."""
    canvas = Canvas("#ffffff")
    left, room = 72.0, WIDTH - 72 - 24
    canvas.rect(20, 20, 36, 36, "#1d3557", radius=6)
    canvas.parts.append(
        '<text x="38" y="44" font-size="15" font-weight="bold" text-anchor="middle" fill="#fff">b</text>'
    )
    canvas.author(left, "botsvc", "#e8e8e8", "#616061", posted, "#616061", "#1d1c1d")
    for block in payload["blocks"]:
        if block["type"] == "header":
            header = html.unescape(block["text"]["text"])  # plain_text: Slack shows the entities as characters
            canvas.paragraph(left, header, room, size=17, color="#1d1c1d", weight="bold")
            canvas.y += 6
        elif block["type"] == "section":
            for line in block["text"]["text"].split("\n"):
                for text, bold, link in _slack_spans(line):
                    color = "#1264a3" if link else "#1d1c1d" if bold else "#454245"
                    canvas.paragraph(left, text, room, size=14.5, color=color, weight="bold" if bold else "normal")
            canvas.y += 6
        elif block["type"] == "actions":
            x = left
            for element in block["elements"]:
                x = canvas.button(x, element["text"]["text"], "#ffffff", "#1d1c1d", stroke="#bbbabb")
            canvas.y += 40
    return canvas.svg(f"A botsvc alert on Slack: {payload['text']}")


# --- Discord ----------------------------------------------------------------------------


def _discord_plain(text: str) -> str:
    """What Discord shows for neutralised text: no backslash escapes, no zero-width spaces."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def draw_discord(message: DiscordMessage, posted: str, zone: str) -> str:
    """One message (content, embeds, button rows) as Discord shows it (dark theme)."""
    canvas = Canvas("#313338")
    left, room = 72.0, WIDTH - 72 - 24
    canvas.parts.append('<circle cx="38" cy="38" r="18" fill="#5865f2"/>')
    canvas.parts.append(
        '<text x="38" y="43" font-size="15" font-weight="bold" text-anchor="middle" fill="#fff">b</text>'
    )
    canvas.author(left, "botsvc", "#5865f2", "#ffffff", f"Today at {posted}", "#949ba4", "#f2f3f5")
    content = message.content
    bold = re.match(r"\*\*(.*?)\*\*(.*)", content, re.S)
    if bold:
        canvas.paragraph(
            left,
            _discord_plain(bold.group(1)) + _discord_plain(bold.group(2)),
            room,
            size=14.5,
            color="#dbdee1",
            weight="bold",
        )
    else:
        canvas.paragraph(left, _discord_plain(content), room, size=14.5, color="#dbdee1")
    canvas.y += 6
    for embed in message.embeds:
        top = canvas.y
        index = len(canvas.parts)
        canvas.y += 12
        inner = room - 32
        if embed.title:
            color = "#00a8fc" if embed.url else "#f2f3f5"
            canvas.paragraph(left + 16, _discord_plain(embed.title), inner, size=15, color=color, weight="bold")
            canvas.y += 2
        for line in (embed.description or "").split("\n"):
            canvas.paragraph(left + 16, _discord_plain(line), inner, size=14, color="#dbdee1")
        footer = [embed.footer.text] if embed.footer and embed.footer.text else []
        if embed.timestamp:
            # Discord shows an embed's timestamp in the reader's zone: here, the channel's.
            footer.append(embed.timestamp.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y %H:%M"))
        if footer:
            canvas.y += 4
            canvas.paragraph(left + 16, " • ".join(footer), inner, size=12, color="#b5bac1")
        canvas.y += 10
        height = canvas.y - top
        box = [
            f'<rect x="{left:.0f}" y="{top:.0f}" width="{room:.0f}" height="{height:.0f}" rx="4" fill="#2b2d31"/>',
            f'<rect x="{left:.0f}" y="{top:.0f}" width="4" height="{height:.0f}" fill="#1e1f22"/>',
        ]
        canvas.parts[index:index] = box
        canvas.y += 8
    for row in message.components:
        x = left
        for button in row["components"]:
            fill = "#da373c" if button["style"] == 4 else "#4e5058"
            x = canvas.button(x, button["label"], fill, "#ffffff")
        canvas.y += 36
    return canvas.svg(f"A botsvc alert on Discord: {_discord_plain(message.content)}")


def pictures() -> dict[str, str]:
    """File name → SVG text of each picture, drawn from the adapters' renderers."""
    digest = sample_digest()
    slack = render_blocks(digest, buttons=True)
    discord_messages = render_embeds(digest, buttons=True)
    assert len(slack) == 1 and len(discord_messages) == 1, "the sample digest fits one message"
    posted = digest.generated_at.astimezone(ZoneInfo(digest.zone)).strftime("%H:%M")
    return {
        "alert-slack.svg": draw_slack(slack[0], posted),
        "alert-discord.svg": draw_discord(discord_messages[0], posted, digest.zone),
    }


def main(argv: list[str]) -> int:
    stale = []
    for name, svg in pictures().items():
        path = IMG / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != svg:
                stale.append(name)
            continue
        IMG.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}: run python scripts/render_alert_pictures.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
