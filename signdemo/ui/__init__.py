"""The Gradio app's package side: everything `app.py` shows, and the only place that imports gradio.

Modules that do the work import no gradio and are tested without it:

    store       the loaded models, shared read-only by all sessions (lazy, thread-safe)
    results     what the Recognise tab shows for one clip (overlay, top-5s, banner, figures, JSON)
    plots       plotly figures (attention, I3D scores over time, confusion matrix, training curves)
    cards       model cards from a bundle's manifest and its `reports/`
    inspection  labelled sets, batch evaluation, per-sample CSV, skeleton animations
    live        per-session webcam state (its own MediaPipe graph) and the rolling prediction
    training    the training scripts the Training tab lists
    tabs        each tab's layout and its own events (`app.py` calls one function per tab)
    outputs     per-request output folders, removed after a while
    texts       help texts shown in the page

`handlers` adapts them to gradio (inputs -> outputs, typed errors -> gr.Error / gr.Warning) and
`look` holds the theme; `app.py` at the repository root builds the page from the tabs.
"""
