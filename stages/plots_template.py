"""DVC stage ``plots_template``: the page that ``dvc plots show / diff`` fill, with vega inlined (works offline).

Inputs: the installed ``vl-convert-python`` wheel (its JavaScript bundle of vega, vega-lite, vega-embed).
Output: reports/plots_template.html, named by ``plots.html_template`` in .dvc/config, so a plain
``dvc plots show`` writes ``dvc_plots/index.html`` that loads nothing from the web.

    dvc repro plots_template            # or: python stages/plots_template.py
"""

from pathlib import Path

from mtcontrast.errors import exit_on_user_error
from mtcontrast.report.plots import write_plots_template

OUT = Path("reports/plots_template.html")


def main() -> None:
    path = write_plots_template(OUT)
    print(f"{path}: {path.stat().st_size // 1024} KiB (vega, vega-lite, vega-embed inlined)")


if __name__ == "__main__":
    with exit_on_user_error("plots_template"):
        main()
