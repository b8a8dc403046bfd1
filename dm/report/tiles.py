"""HTML tiles for examples: the image (when the data set has images) with split, id, label and a note."""

from __future__ import annotations

from html import escape

from dm.report.source import ViewSource
from dm.report.thumbnails import ExampleImages

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


class ExampleTiles:
    """Draws any (split, example_id) as a small figure; ids and labels only for feature data sets."""

    def __init__(self, images: ExampleImages | None, labels: dict[tuple[str, int], str], px: int):
        self.images = images
        self.labels = labels
        self.px = px

    @classmethod
    def from_views(cls, views: ViewSource, images: ExampleImages | None, dataset: str, px: int) -> ExampleTiles:
        """Labels from the `examples` view (class names where known, the target for regression)."""
        labels: dict[tuple[str, int], str] = {}
        if views.has("examples"):
            names = CLASS_NAMES.get(dataset)
            for split, example_id, label, target in views.rows("SELECT split, example_id, label, target FROM examples"):
                if target is not None and (label is None or label < 0):
                    text = f"y={target:.3g}"
                elif names is not None and label is not None and 0 <= label < len(names):
                    text = names[label]
                else:
                    text = f"label {label}"
                labels[(split, int(example_id))] = text
        return cls(images, labels, px)

    def label(self, split: str, example_id: int) -> str:
        return self.labels.get((split, int(example_id)), "")

    def tile(self, split: str, example_id: int, note: str = "", kind: str = "") -> str:
        """One `<figure>`: image (if any), then `split #id · label`, then `note` (e.g. a weight)."""
        example_id = int(example_id)
        caption = f"{split} #{example_id}"
        label = self.label(split, example_id)
        if label:
            caption += f" · {label}"
        uri = self.images.data_uri(split, example_id) if self.images is not None else None
        img = f'<img src="{uri}" width="{self.px}" height="{self.px}" alt="{escape(caption)}">' if uri else ""
        note_html = f'<span class="note">{escape(note)}</span>' if note else ""
        css = "tile" + (f" {kind}" if kind else "") + ("" if uri else " text-only")
        return (
            f'<figure class="{css}" data-split="{escape(split)}" data-example-id="{example_id}">{img}'
            f"<figcaption>{escape(caption)}{note_html}</figcaption></figure>"
        )

    def row(self, tiles: list[str], heading: str = "") -> str:
        """A horizontal strip of tiles with an optional heading."""
        head = f'<div class="strip-head">{escape(heading)}</div>' if heading else ""
        return f'<div class="strip">{head}{"".join(tiles)}</div>'
