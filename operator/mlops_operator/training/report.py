"""A search's report: one self-contained HTML file (inline SVG and CSS, no script, nothing
fetched) with the objective by trial, each parameter against the objective and the top trials.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..artifacts.store import Store

W, H, PAD = 520, 260, 44
COLORS = {"Succeeded": "#1f77b4", "Pruned": "#ff7f0e", "Failed": "#d62728", "Running": "#999"}


def _scale(values: list[float], low: int, high: int) -> Any:
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return lambda v: low + (float(v) - lo) / span * (high - low)


def _axes(title: str, x_label: str, y_label: str, ys: list[float]) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img">',
        f"<title>{html.escape(title)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#333"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>',
        f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>',
    ]
    if ys:
        parts += [
            f'<text x="{PAD - 4}" y="{H - PAD}" text-anchor="end" font-size="10">'
            f"{min(ys):.4g}</text>",
            f'<text x="{PAD - 4}" y="16" text-anchor="end" font-size="10">{max(ys):.4g}</text>',
        ]
    return parts


def objective_plot(trials: list[dict[str, Any]], metric: str, direction: str) -> str:
    scored = [t for t in trials if t.get("value") is not None]
    ys = [float(t["value"]) for t in scored]
    parts = _axes("objective by trial", "trial", metric, ys)
    if scored:
        fx = _scale([t["number"] for t in trials] or [0], PAD + 8, W - 20)
        fy = _scale(ys, H - PAD - 8, 18)
        best: float | None = None
        line = []
        for t in sorted(scored, key=lambda t: t["number"]):
            v = float(t["value"])
            if t["state"] == "Succeeded" and (
                best is None or (v > best if direction == "maximize" else v < best)
            ):
                best = v
            if best is not None:
                line.append(f"{fx(t['number']):.1f},{fy(best):.1f}")
        if line:
            parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="#2ca02c"/>')
        for t in scored:
            color = COLORS.get(t["state"], "#999")
            parts.append(
                f'<circle cx="{fx(t["number"]):.1f}" cy="{fy(t["value"]):.1f}" r="4" '
                f'fill="{color}"><title>trial {t["number"]}: {float(t["value"]):.4g}</title>'
                "</circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def parameter_plot(trials: list[dict[str, Any]], name: str, metric: str) -> str:
    scored = [t for t in trials if t.get("value") is not None and name in (t.get("params") or {})]
    ys = [float(t["value"]) for t in scored]
    parts = _axes(f"{name} vs {metric}", name, metric, ys)
    if scored:
        raw = [t["params"][name] for t in scored]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        labels = sorted({json.dumps(v) for v in raw})
        xs = [float(v) if numeric else float(labels.index(json.dumps(v))) for v in raw]
        fx = _scale(xs, PAD + 8, W - 20)
        fy = _scale(ys, H - PAD - 8, 18)
        for t, x in zip(scored, xs, strict=True):
            parts.append(
                f'<circle cx="{fx(x):.1f}" cy="{fy(t["value"]):.1f}" r="4" '
                f'fill="{COLORS.get(t["state"], "#999")}"><title>trial {t["number"]}: '
                f"{html.escape(json.dumps(t['params'][name]))}</title></circle>"
            )
        if not numeric:
            for i, label in enumerate(labels):
                parts.append(
                    f'<text x="{fx(float(i)):.1f}" y="{H - PAD + 14}" font-size="10" '
                    f'text-anchor="middle">{html.escape(label)}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def render(document: dict[str, Any]) -> str:
    trials = sorted(document["trials"], key=lambda t: t["number"])
    metric, direction = document["metric"], document["direction"]
    ranked = sorted(
        (t for t in trials if t["state"] == "Succeeded" and t.get("value") is not None),
        key=lambda t: (-t["value"] if direction == "maximize" else t["value"], t["number"]),
    )[: int(document.get("topTrials") or 5)]
    names = [p["name"] for p in document["parameters"]]
    counts = {s: sum(1 for t in trials if t["state"] == s)
              for s in ("Succeeded", "Pruned", "Failed", "Running")}  # fmt: skip
    rows = "".join(
        "<tr>"
        + f"<td>{t['number']}</td><td>{float(t['value']):.6g}</td>"
        + "".join(
            f"<td>{html.escape(json.dumps((t.get('params') or {}).get(n)))}</td>" for n in names
        )
        + "</tr>"
        for t in ranked
    )
    title = html.escape(document.get("title") or "search")
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    plots = "".join(parameter_plot(trials, n, metric) for n in names)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Search {title}</title><style>"
        "body{font-family:sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "svg{margin:8px;border:1px solid #eee}text{font-size:12px}"
        "</style></head><body>"
        f"<h1>Search {title}</h1>"
        f"<p>{html.escape(document['algorithm'])} search, objective {html.escape(metric)} "
        f"({html.escape(direction)}); {len(trials)} trials: "
        + ", ".join(f"{v} {k.lower()}" for k, v in counts.items() if v)
        + "</p><h2>Objective by trial</h2>"
        + objective_plot(trials, metric, direction)
        + "<p>Blue: succeeded, orange: pruned (its partial score), green: best so far.</p>"
        + "<h2>Parameters against the objective</h2>"
        + plots
        + f"<h2>Top trials</h2><table><tr><th>trial</th><th>{html.escape(metric)}</th>{head}"
        + f"</tr>{rows}</table></body></html>\n"
    )


def write_report(document: dict[str, Any]) -> dict[str, Any]:
    uri = document["reportUri"]
    Store(uri.rsplit("/", 1)[0]).write_bytes(uri, render(document).encode())
    finished = sum(1 for t in document["trials"] if t["state"] in ("Succeeded", "Failed", "Pruned"))
    return {"uri": uri, "trials": finished}
