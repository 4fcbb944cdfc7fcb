"""Render a `TableResult` as GitHub markdown, a LaTeX booktabs tabular, or tidy CSV. Every table
ends with its notes and provenance (CSV carries them as columns: versions, devices, run ids)."""

from __future__ import annotations

import re
import unicodedata

from ge4rec.errors import Ge4recError
from ge4rec.results.tables import TableResult, Text

FORMATS = ("md", "latex", "csv")
_LEFT = {"model", "variant", "dataset", "paradigm"}


def render(result: TableResult, fmt: str) -> str:
    if fmt == "md":
        return render_markdown(result)
    if fmt == "latex":
        return render_latex(result)
    if fmt == "csv":
        return render_csv(result)
    raise Ge4recError(f"unknown format '{fmt}' (choose from: {', '.join(FORMATS)})")


# --------------------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_cell(cell: Text) -> str:
    text = _md(cell.text)
    return f"**{text}**" if cell.bold and text else text


def _md_columns(result: TableResult) -> list[str]:
    if not result.groups:
        return list(result.columns)
    labels, i = [], 0
    for group, span in result.groups:
        for column in result.columns[i : i + span]:
            labels.append(f"{group} {column}" if group else column)
        i += span
    return labels


def render_markdown(result: TableResult, title: bool = True) -> str:
    columns = _md_columns(result)
    header = "| " + " | ".join(_md(c) for c in columns) + " |"
    align = "|" + "|".join("---" if c in _LEFT else "---:" for c in result.columns) + "|"
    out = [f"**{_md(result.title)}**", ""] if title else []
    for block in result.blocks:
        if block.title:
            out += [f"*{_md(block.title)}*", ""]
        out += [header, align]
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        out.append("")
    if result.notes:
        out += ["Notes:", ""] + [f"- {n}" for n in result.notes] + [""]
    if result.provenance:
        out += ["Provenance:", ""] + [f"- {p}" for p in result.provenance] + [""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
    "|": r"$|$",
    "±": r"$\pm$",
    "†": r"$^\dagger$",
    "Δ": r"$\Delta$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "→": r"$\to$",
    "×": r"$\times$",
    "–": "--",
    "—": "---",
    "−": "-",
    "\u00a0": "~",
}


def latex_escape(text: str) -> str:
    """Plain text as LaTeX that pdflatex compiles: specials escaped, the few symbols the tables
    use as math, anything else outside ASCII reduced to ASCII (or dropped)."""
    out = []
    for ch in text:
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    return "".join(out)


def _latex_inline(text: str) -> str:
    """Escaped text with `code` spans as \\texttt{...}."""
    parts = re.split(r"`([^`]*)`", text)
    return "".join(
        latex_escape(p) if i % 2 == 0 else r"\texttt{" + latex_escape(p) + "}" for i, p in enumerate(parts)
    )


def _latex_cell(cell: Text) -> str:
    text = latex_escape(cell.text)
    return rf"\textbf{{{text}}}" if cell.bold and text else text


def render_latex(result: TableResult) -> str:
    n = len(result.columns)
    spec = "".join("l" if c in _LEFT else "r" for c in result.columns)
    out = [
        f"% {latex_escape(result.title)}",
        "% needs \\usepackage{booktabs}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
    ]
    if result.groups:
        heads, rules, col = [], [], 1
        for group, span in result.groups:
            if group:
                heads.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(group)}}}")
                rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
            else:
                heads += [""] * span
            col += span
        out.append(" & ".join(heads) + r" \\")
        out.append(" ".join(rules))
    out.append(" & ".join(latex_escape(c) for c in result.columns) + r" \\")
    out.append(r"\midrule")
    for b, block in enumerate(result.blocks):
        if b:
            out.append(r"\midrule")
        if block.title:
            out.append(rf"\multicolumn{{{n}}}{{l}}{{\textit{{{latex_escape(block.title)}}}}} \\")
        for i, row in enumerate(block.rows):
            if i in block.rule_before:
                out.append(r"\midrule")
            out.append(" & ".join(_latex_cell(c) for c in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    lines = [("Notes: " if i == 0 else "") + n for i, n in enumerate(result.notes)]
    lines += [("Provenance: " if i == 0 else "") + p for i, p in enumerate(result.provenance)]
    if lines:
        out += ["", r"\par\smallskip", r"{\footnotesize"]
        out += [r"\noindent " + _latex_inline(line) + r"\par" for line in lines]
        out.append("}")
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------------------------------- CSV


def render_csv(result: TableResult) -> str:
    return result.data.write_csv()
