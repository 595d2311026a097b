"""mkdocs hook: the API reference page (reference.md) renders every public name of
``lorkd_kernels`` from its docstring, taking the names from the package's own table of exports
(``_EXPORTS`` in ``lorkd_kernels/__init__.py``), so the page cannot list a name the package lacks
or miss one it has."""

from __future__ import annotations

MARKER = "<!-- the public names -->"


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    import sys
    from pathlib import Path

    # the package of this repository, not another installed copy
    sys.path.insert(0, str(Path(config.config_file_path).parent))
    import lorkd_kernels  # without torch imported, the package only reads its table

    blocks = [
        f"::: lorkd_kernels.{module}.{name}" for name, module in lorkd_kernels._EXPORTS.items()
    ]
    return markdown.replace(MARKER, "\n\n".join(blocks))
