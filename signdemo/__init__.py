"""signdemo: isolated ASL recognition demo (MediaPipe landmarks -> BiGRU-attention, RGB -> I3D).

The package never imports gradio outside `signdemo.ui`, and importing it loads no model and
creates no MediaPipe graph.
"""

__version__ = "0.1.0"
