"""The page ``dvc plots show / diff`` render into, with no request to the web.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so its plots are empty offline. ``dvc plots`` takes
an HTML template instead (``.dvc/config``: ``plots.html_template``); this one inlines the three libraries from the
``vl-convert-python`` wheel (``vl_convert.javascript_bundle``, which defines ``vegaEmbed`` globally) and leaves out
DVC's ``{scripts}`` placeholder, where DVC would put its CDN ``<script src>`` tags.
"""

from __future__ import annotations

import os
from pathlib import Path

VEGA_LITE = "v5.21"  # DVC's plot templates are Vega-Lite 5 specs

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot (offline)</title>
    <script type="text/javascript">
__BUNDLE__
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def plots_template() -> str:
    """The HTML template: DVC's page layout with the vega libraries inlined."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    for placeholder in ("{plot_divs}", "{scripts}", "{refresh_tag}", "</script"):
        if placeholder in bundle:  # DVC fills placeholders by plain replacement; a stray one would break the page
            raise RuntimeError(f"vl-convert's JavaScript bundle contains {placeholder!r}; cannot inline it")
    return PAGE.replace("__BUNDLE__", bundle)


def write_plots_template(path: str | Path) -> Path:
    """Write :func:`plots_template` to ``path`` (temp name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(plots_template(), encoding="utf8")
    tmp.replace(path)
    return path
