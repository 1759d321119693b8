"""Inline SVG drawings for the dashboard: the plan's DAG, a message sequence diagram, grouped
bars, a topology graph and cumulative lines. Drawn on the server (no JavaScript, no
library): a page is complete as it is served, and a test can read every number in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")
STATUS_COLOURS = {True: "#59a14f", False: "#e15759", None: "#bab0ac"}


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _text(
    x: float, y: float, text: str, *, size: int = 12, anchor: str = "middle", **attrs: str
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>' + "".join(body) + "</svg>"
    )


def agent_href(agent: str) -> str:
    return f"/agents/{quote(agent, safe='')}"


# --- the plan ------------------------------------------------------------------------------


def dag(steps: Sequence[tuple[str, str, tuple[str, ...], str | None, bool | None]]) -> str:
    """The plan: (step id, capability, depends on, agent, ok) per step; layers left to right."""
    depth: dict[str, int] = {}
    known = {step[0] for step in steps}

    def level(step_id: str, seen: frozenset[str] = frozenset()) -> int:
        if step_id in depth:
            return depth[step_id]
        step = next(s for s in steps if s[0] == step_id)
        parents = [p for p in step[2] if p in known and p not in seen]
        depth[step_id] = 1 + max((level(p, seen | {step_id}) for p in parents), default=-1)
        return depth[step_id]

    for step in steps:
        level(step[0])
    layers: dict[int, list[str]] = {}
    for step in steps:
        layers.setdefault(depth[step[0]], []).append(step[0])
    box_w, box_h, gap_x, gap_y = 170, 54, 60, 16
    tallest = max((len(ids) for ids in layers.values()), default=1)
    width = 20 + len(layers) * (box_w + gap_x)
    height = 20 + tallest * (box_h + gap_y)
    where: dict[str, tuple[float, float]] = {}
    for layer, ids in layers.items():
        for row, step_id in enumerate(ids):
            where[step_id] = (10 + layer * (box_w + gap_x), 10 + row * (box_h + gap_y))
    body: list[str] = []
    for step_id, _, depends_on, _, _ in steps:
        x, y = where[step_id]
        for parent in depends_on:
            if parent in where:
                px, py = where[parent]
                body.append(
                    f'<line x1="{px + box_w:.1f}" y1="{py + box_h / 2:.1f}" x2="{x:.1f}" '
                    f'y2="{y + box_h / 2:.1f}" stroke="#555" marker-end="url(#arrow)"/>'
                )
    for step_id, capability, _, agent, ok in steps:
        x, y = where[step_id]
        body.append(
            f'<g class="dag-step" data-step="{escape(step_id)}"><rect x="{x}" y="{y}" '
            f'width="{box_w}" height="{box_h}" rx="6" fill="#fff" stroke="{STATUS_COLOURS[ok]}" '
            'stroke-width="2"/>'
            + _text(x + box_w / 2, y + 17, step_id, size=12, font_weight="bold")
            + _text(x + box_w / 2, y + 32, capability, size=11, fill="#555")
        )
        if agent:
            body.append(
                f'<a href="{agent_href(agent)}">'
                + _text(x + box_w / 2, y + 47, agent, size=11, fill="#1f5f9f")
                + "</a>"
            )
        body.append("</g>")
    return _svg(width, height, body, "plan DAG")


# --- messages ------------------------------------------------------------------------------


def sequence(
    messages: Sequence[tuple[str, str, str, str, str, str]], participants: Sequence[str]
) -> str:
    """A sequence diagram: (sender, recipient, label, title, time label, kind) per message,
    in time order; the time label (e.g. "+12.5 ms") is written in the left margin, and a
    reply (kind "reply") is drawn dashed, back to its requester."""
    lane, top, row, margin = 130, 40, 24, 70
    width = margin + 20 + lane * max(len(participants), 1)
    height = top + row * (len(messages) + 1) + 10
    x_of = {name: margin + lane * i + lane / 2 for i, name in enumerate(participants)}
    body = []
    for name, x in x_of.items():
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 5}" '
            'stroke="#ccc" stroke-dasharray="4 3"/>'
        )
        body.append(
            f'<a href="{agent_href(name)}">'
            + _text(x, 18, name, size=12, font_weight="bold", fill="#1f5f9f")
            + "</a>"
        )
    for i, (sender, recipient, label, title, when, kind) in enumerate(messages):
        y = top + row * (i + 1)
        x1, x2 = x_of.get(sender, float(margin)), x_of.get(recipient, float(margin))
        if x1 == x2:
            x2 = x1 + 30
        reply = kind == "reply"
        dash = ' stroke-dasharray="5 3"' if reply else ""
        body.append(
            f'<g class="{"message reply" if reply else "message"}"><title>{escape(title)}</title>'
            + _text(margin - 6, y + 3, when, size=10, anchor="end", fill="#777")
            + f'<line x1="{x1:.1f}" y1="{y}" x2="{x2:.1f}" y2="{y}" '
            f'stroke="{"#1f7a3a" if reply else "#555"}"{dash} marker-end="url(#arrow)"/>'
            + _text((x1 + x2) / 2, y - 4, label, size=10, fill="#1f7a3a" if reply else "#333")
            + "</g>"
        )
    return _svg(width, height, body, "message sequence diagram")


# --- charts --------------------------------------------------------------------------------


def grouped_bars(
    groups: Sequence[tuple[str, Mapping[str, float]]], series: Sequence[str], *, unit: str = ""
) -> str:
    """Horizontal bars: one group per label, one bar per series, each with its value."""
    top = max((v for _, values in groups for v in values.values()), default=0.0) or 1.0
    bar, label_w, chart_w = 14, 130, 360
    group_h = bar * len(series) + 12
    height = 30 + group_h * len(groups)
    body = []
    for i, name in enumerate(series):
        body.append(
            f'<rect x="{label_w + i * 120}" y="4" width="10" height="10" fill="{colour(i)}"/>'
        )
        body.append(_text(label_w + i * 120 + 14, 13, name, size=11, anchor="start"))
    for g, (label, values) in enumerate(groups):
        y0 = 26 + g * group_h
        body.append(_text(label_w - 8, y0 + group_h / 2, label, size=12, anchor="end"))
        for i, name in enumerate(series):
            value = values.get(name, 0.0)
            w = chart_w * max(value, 0.0) / top
            y = y0 + i * bar
            body.append(
                f'<rect class="bar" data-series="{escape(name)}" data-label="{escape(label)}" '
                f'x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour(i)}"/>'
            )
            body.append(
                _text(label_w + w + 4, y + bar - 4, f"{value:.2f}{unit}", size=10, anchor="start")
            )
    return _svg(label_w + chart_w + 80, height, body, "grouped bar chart")


def cumulative_lines(series: Mapping[str, Mapping[str, float]]) -> str:
    """One line per series over time, each value added up over time, on a real time axis.

    Keys are "YYYY-MM-DD" or "YYYY-MM-DDTHH"; x is proportional to time (two entries an hour
    apart and two a day apart are not drawn the same distance apart), each line a step that
    holds its total until the next amount. A single instant gets an axis of one hour (or one
    day) either side, so its step from 0 shows as a step, not a lone dot on the y axis.
    """
    keys = sorted({key for values in series.values() for key in values})
    if not keys:
        return _svg(300, 40, [_text(150, 24, "nothing yet")], "no data")
    hourly = any("T" in key for key in keys)
    unit = timedelta(hours=1) if hourly else timedelta(days=1)
    at = {key: _instant(key) for key in keys}
    start, end = at[keys[0]], at[keys[-1]]
    if start == end:
        start, end = start - unit, end + unit
    else:
        start -= (end - start) / 20  # room for the step up from 0 before the first amount
    span = (end - start).total_seconds()
    left, width, height, top = 60, 520, 220, 20

    def x(when: datetime) -> float:
        return left + width * (when - start).total_seconds() / span

    totals = {
        name: [sum(values.get(k, 0.0) for k in keys[: i + 1]) for i in range(len(keys))]
        for name, values in series.items()
    }
    peak = max((max(v) for v in totals.values() if v), default=0.0) or 1.0

    def y(value: float) -> float:
        return top + height - height * value / peak

    body = [
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" '
        f'y2="{top + height}" stroke="#999"/>',
        _text(left - 6, top + 6, f"{peak:.2f}", size=10, anchor="end"),
        _text(left - 6, top + height, "0", size=10, anchor="end"),
    ]
    ticks = 5
    for i in range(ticks + 1):
        when = start + (end - start) * i / ticks
        label = when.strftime("%m-%d %H:%M" if hourly else "%m-%d")
        body.append(
            _text(
                x(when),
                top + height + 14,
                label,
                size=10,
                **{"class": "tick", "data_time": f"{when:%Y-%m-%dT%H:%M}"},
            )
        )
    for n, (name, values) in enumerate(totals.items()):
        points = [(x(start), y(0.0))]
        previous = 0.0
        for key, value in zip(keys, values, strict=True):
            points += [(x(at[key]), y(previous)), (x(at[key]), y(value))]
            previous = value
        points.append((x(end), y(previous)))
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        body.append(
            f'<polyline fill="none" stroke="{colour(n)}" stroke-width="2" points="{path}"/>'
        )
        for key, value in zip(keys, values, strict=True):
            if series[name].get(key):
                body.append(
                    f'<circle class="point" cx="{x(at[key]):.1f}" cy="{y(value):.1f}" r="3" '
                    f'fill="{colour(n)}" data-time="{escape(key)}" data-total="{value:.2f}">'
                    f"<title>{escape(name)}: {value:.2f} by {escape(key.replace('T', ' '))}"
                    f"{':00' if hourly else ''}</title></circle>"
                )
        body.append(
            f'<rect x="{left + width + 12}" y="{top + n * 16}" width="10" height="10" '
            f'fill="{colour(n)}"/>'
        )
        body.append(_text(left + width + 26, top + n * 16 + 9, name, size=11, anchor="start"))
    return _svg(left + width + 160, top + height + 30, body, "cumulative amounts over time")


def _instant(key: str) -> datetime:
    """ "YYYY-MM-DD" or "YYYY-MM-DDTHH" as the instant it starts."""
    return datetime.strptime(key, "%Y-%m-%dT%H" if "T" in key else "%Y-%m-%d")


# --- the network ---------------------------------------------------------------------------


def topology(
    nodes: Sequence[tuple[str, str]],
    edges: Mapping[tuple[str, str], int],
    *,
    hub: str | None = None,
) -> str:
    """Agents on a circle (the hub, if any, in the middle), coloured by entity; an edge's
    width grows with the messages seen on it (0: allowed by the topology, none seen)."""
    size, radius = 560, 210
    centre = size / 2
    ring = [name for name, _ in nodes if name != hub]
    where: dict[str, tuple[float, float]] = {}
    if hub is not None and any(name == hub for name, _ in nodes):
        where[hub] = (centre, centre)
    for i, name in enumerate(ring):
        angle = 2 * math.pi * i / max(len(ring), 1) - math.pi / 2
        where[name] = (centre + radius * math.cos(angle), centre + radius * math.sin(angle))
    entities = list(dict.fromkeys(entity for _, entity in nodes))
    body = []
    for (a, b), count in sorted(edges.items()):
        if a in where and b in where:
            (x1, y1), (x2, y2) = where[a], where[b]
            width = 1 + min(6.0, math.log2(1 + count)) if count else 1
            dash = "" if count else ' stroke-dasharray="3 3"'
            body.append(
                f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="#888" stroke-width="{width:.1f}"{dash}><title>{escape(a)} -> '
                f"{escape(b)}: {count} messages</title></line>"
            )
    for name, entity in nodes:
        x, y = where[name]
        fill = colour(entities.index(entity))
        body.append(
            f'<a href="{agent_href(name)}" class="node" data-agent="{escape(name)}">'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="22" fill="{fill}" stroke="#333"/>'
            + _text(x, y + 36, name, size=12, font_weight="bold")
            + _text(x, y + 50, entity, size=10, fill="#555")
            + "</a>"
        )
    return _svg(size, size + 30, body, "network topology")
