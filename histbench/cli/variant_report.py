"""`histbench report`: the fair-comparison report of variants, as Markdown, HTML or JSON.

Every number comes with its interval, every ratio with its significance, every estimate
says it is one, and the reproducibility block says exactly what was measured where, so the
report can be checked (and redone) by someone else.
"""

from __future__ import annotations

import io
import json
import platform
import time
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")
from matplotlib.figure import Figure  # noqa: E402

from histbench import __version__  # noqa: E402
from histbench.analysis.variants import Family, Variant  # noqa: E402
from histbench.cli.tables import markdown_table  # noqa: E402
from histbench.core.formatting import format_value  # noqa: E402
from histbench.store.machine import MachineRecord  # noqa: E402
from histbench.store.results import RunResults  # noqa: E402

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "histbench-report",
                            "font.size": 9})


def _value(v: Variant, role: str) -> str:
    r = getattr(v, role)
    if r is None or r.stats is None:
        return "–"
    s = r.stats
    text = format_value(s.median, r.unit)
    if s.n > 1 and s.median_ci_low != s.median_ci_high:  # a constant value has no interval
        low, high = format_value(s.median_ci_low, r.unit), format_value(s.median_ci_high, r.unit)
        text += f" [{low}, {high}]"
    return text


def _energy(v: Variant) -> str:
    e = v.energy
    if not e:
        return "–"
    text = f"{e['joules_per_call'] * 1e3:.3g} mJ"
    return text + " (estimated)" if e.get("estimated") else text


def _speedup(v: Variant, baseline: str) -> str:
    s = v.metrics.get("speedup")
    if v.label == baseline:
        return "1 (baseline)"
    if not s:
        return "–"
    sig = "significant" if s["significant"] else "not significant"
    return (f"{s['value']:.3g}x [{s['ci_low']:.3g}, {s['ci_high']:.3g}], "
            f"p = {s['p_value']:.2g} ({sig})")


def rows(family: Family) -> list[list[str]]:
    out = []
    for v in family.variants:
        m = v.metrics
        out.append([
            v.label + (" ★" if v.pareto else ""),
            _value(v, "time"), _value(v, "accuracy"), _value(v, "memory"), _energy(v),
            _speedup(v, family.baseline),
            f"{m['compression']:.3g}x" if "compression" in m else "–",
            f"{m['accuracy_delta']:+.4g}" if "accuracy_delta" in m else "–",
            f"{m['efficiency']:.3g}" if "efficiency" in m else "–",
        ])
    return out


HEADER = ["variant", "latency (median [95% CI])", "accuracy", "memory", "energy / call",
          "speedup vs baseline", "compression", "accuracy Δ", "efficiency"]


def latency_plot(family: Family) -> str:
    """Latency per variant with its CI as error bars."""
    shown = [v for v in family.variants if v.time and v.time.stats]
    fig = Figure(figsize=(6, 3), dpi=72)
    ax = fig.add_axes((0.12, 0.18, 0.85, 0.72))
    if shown:
        unit = shown[0].time.unit
        scale, name = (1e-3, "ms") if unit == "seconds" else (1.0, unit)
        med = [v.time.stats.median / scale for v in shown]
        lo = [m - v.time.stats.median_ci_low / scale for m, v in zip(med, shown, strict=True)]
        hi = [v.time.stats.median_ci_high / scale - m for m, v in zip(med, shown, strict=True)]
        colors = ["#1a7f37" if v.pareto else "#1f6feb" for v in shown]
        ax.bar([v.label for v in shown], med, yerr=[lo, hi], capsize=4, color=colors)
        ax.set_ylabel(f"latency ({name})")
    ax.set_title(f"{family.name}: latency, 95% CI (green: Pareto-optimal)", fontsize=9)
    return _svg(fig)


def tradeoff_plot(family: Family) -> str | None:
    """Accuracy against latency, with error bars and the Pareto front drawn."""
    shown = [v for v in family.variants if v.time and v.time.stats and v.accuracy
             and v.accuracy.stats]
    if len(shown) < 2:
        return None
    fig = Figure(figsize=(6, 3.4), dpi=72)
    ax = fig.add_axes((0.12, 0.16, 0.85, 0.74))
    for v in shown:
        t, a = v.time.stats, v.accuracy.stats
        xerr = [[(t.median - t.median_ci_low) * 1e3], [(t.median_ci_high - t.median) * 1e3]]
        ax.errorbar(t.median * 1e3, a.median, xerr=xerr,
                    yerr=[[a.median - a.median_ci_low], [a.median_ci_high - a.median]],
                    fmt="o", color="#1a7f37" if v.pareto else "#57606a", capsize=3)
        ax.annotate(v.label, (t.median * 1e3, a.median), xytext=(4, 4),
                    textcoords="offset points")
    front = sorted((v for v in shown if v.pareto), key=lambda v: v.time.stats.median)
    if len(front) > 1:
        ax.step([v.time.stats.median * 1e3 for v in front],
                [v.accuracy.stats.median for v in front], where="post", color="#1a7f37",
                lw=1.2, label="Pareto front")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{family.name}: accuracy vs latency", fontsize=9)
    return _svg(fig)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def reproducibility(run: RunResults, record: MachineRecord | None,
                    bench_info: dict[str, dict]) -> list[tuple[str, str]]:
    settings = {k: v for k, v in run.settings.items() if k not in ("packages", "energy")}
    timing = {}
    for info in bench_info.values():
        for key in ("warmup_time", "sample_time", "repeat", "rounds", "number"):
            if key in info:
                timing.setdefault(key, set()).add(json.dumps(info[key]))
    items = [
        ("machine", (f"{record.name}: {record.cpu}, {record.cores} cores, "
                     f"{record.ram_bytes / 1024**3:.1f} GiB RAM, {record.os} {record.arch}")
         if record else run.machine),
        ("python", run.python or platform.python_version()),
        ("histbench", __version__),
        ("commit", f"{run.commit.hash} {run.commit.subject}" if run.commit else "–"),
        ("measured", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.started_at or 0))),
        ("environment", run.env_name),
        ("run settings", json.dumps(settings, sort_keys=True) if settings else "suite defaults"),
        ("benchmark timing", "; ".join(f"{k} = {' / '.join(sorted(v))}"
                                        for k, v in sorted(timing.items())) or "–"),
        ("energy", json.dumps(run.settings.get("energy", {}), sort_keys=True)),
        ("packages", ", ".join(f"{k} {v}" for k, v in sorted(run.packages.items())) or "–"),
    ]
    if record:
        items += [(f"noise warning {i + 1}", w) for i, w in enumerate(record.noise_warnings())]
    return items


def markdown(families: list[Family], repro: list[tuple[str, str]], plot_dir: Path | None,
             title: str) -> str:
    out = [f"# {title}", ""]
    for k, fam in enumerate(families):
        out += [f"## {fam.name}", "", f"Baseline: `{fam.baseline}`. ★ = Pareto-optimal over "
                f"{', '.join(fam.objectives) or '(no common objectives)'}.", "",
                markdown_table(HEADER, rows(fam)), ""]
        for v in fam.variants:
            out += [f"> ⚠️ {v.label}: {w}" for w in v.warnings]
        if plot_dir is not None:
            plot_dir.mkdir(parents=True, exist_ok=True)
            lat = plot_dir / f"latency_{k}.svg"
            lat.write_text(latency_plot(fam))
            out += ["", f"![latency of {fam.name}]({lat.name})"]
            trade = tradeoff_plot(fam)
            if trade:
                path = plot_dir / f"tradeoff_{k}.svg"
                path.write_text(trade)
                out += [f"![accuracy vs latency of {fam.name}]({path.name})"]
        out.append("")
    shown = [[k, v] for k, v in repro if k != "packages"]
    packages = dict(repro).get("packages", "–")
    out += ["## Reproducibility", "", markdown_table(["", ""], shown), "",
            f"<details><summary>packages ({packages.count(',') + 1 if packages != '–' else 0})"
            f"</summary>\n\n{packages}\n\n</details>", "",
            "Efficiency = speedup × compression / (1 + |accuracy Δ|): one ranking score "
            "among others, not a truth. Energy marked (estimated) is CPU time × watts per "
            "core, not a measurement."]
    return "\n".join(out) + "\n"


def html(families: list[Family], repro: list[tuple[str, str]], title: str) -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
             f"{escape(title)}</title><style>body{{font:14px system-ui,sans-serif;margin:1.5rem;"
             "max-width:1100px}}table{{border-collapse:collapse;margin:.5rem 0 1rem}}"
             "td,th{{border-bottom:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left}}"
             ".warn{{color:#9a6700}}</style></head><body>", f"<h1>{escape(title)}</h1>"]
    for fam in families:
        parts.append(f"<h2>{escape(fam.name)}</h2><p>Baseline: <code>{escape(fam.baseline)}"
                     f"</code>. ★ = Pareto-optimal over {escape(', '.join(fam.objectives))}.</p>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in HEADER)
                     + "</tr></thead><tbody>")
        for row in rows(fam):
            parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table>")
        for v in fam.variants:
            parts += [f"<p class='warn'>⚠️ {escape(v.label)}: {escape(w)}</p>" for w in v.warnings]
        parts.append(latency_plot(fam))
        trade = tradeoff_plot(fam)
        if trade:
            parts.append(trade)
    parts.append("<h2>Reproducibility</h2><table><tbody>")
    parts += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in repro]
    parts.append("</tbody></table><p>Efficiency = speedup × compression / (1 + |accuracy Δ|): "
                 "one ranking score among others, not a truth. Energy marked (estimated) is "
                 "CPU time × watts per core, not a measurement.</p></body></html>")
    return "\n".join(parts)


def as_json(families: list[Family], repro: list[tuple[str, str]]) -> dict[str, Any]:
    def variant(v: Variant) -> dict[str, Any]:
        energy = v.energy
        return {
            "label": v.label, "pareto": v.pareto, "metrics": v.metrics,
            "latency": v.time.stats.to_dict() if v.time and v.time.stats else None,
            "accuracy": v.accuracy.stats.median if v.accuracy and v.accuracy.stats else None,
            "memory": v.memory.stats.median if v.memory and v.memory.stats else None,
            "energy": energy, "energy_estimated": bool(energy and energy.get("estimated")),
            "unfair": bool(v.warnings), "warnings": v.warnings,
        }

    return {"families": [{"name": f.name, "baseline": f.baseline, "objectives": f.objectives,
                          "variants": [variant(v) for v in f.variants]} for f in families],
            "reproducibility": dict(repro)}
