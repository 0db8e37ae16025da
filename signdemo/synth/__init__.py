"""The synthetic signer: a drawn figure performing a small vocabulary of arm-and-hand movements.

It exists so the demo can ship weights trained offline on data the project makes itself
(issue 4). `render_sample` renders one clip with ground-truth keypoints; `python -m signdemo.synth`
makes a data set, previews clips and measures MediaPipe against the ground truth.
"""

from signdemo.synth.sample import RenderedClip, render_sample
from signdemo.synth.vocabulary import LABELS, VOCABULARY, SignClass, get_class, try_these_table

__all__ = [
    "LABELS", "VOCABULARY", "RenderedClip", "SignClass", "get_class", "render_sample",
    "try_these_table",
]  # fmt: skip
