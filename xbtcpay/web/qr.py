"""QR codes as inline SVG, rendered on the server (no script, no external image)."""

from __future__ import annotations

import segno


def qr_svg(text: str, label: str) -> str:
    """An SVG QR code of ``text`` (error correction M, dark on white, 4-module border).

    ``label`` becomes the SVG's title, so screen readers announce what the image is.
    """
    code = segno.make(text, error="m", micro=False)
    svg: str = code.svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        title=label,
        svgclass="qr",
        lineclass=None,
        omitsize=True,
    )
    return svg.replace("<svg ", '<svg role="img" aria-label="' + _attr(label) + '" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
