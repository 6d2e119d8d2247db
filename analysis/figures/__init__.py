"""Figures: ``ax``-first plot helpers (one module per figure family) and saving.

Plot helpers draw on the Axes they are given and return the artists; only
:func:`analysis.figures.canvas.save_figure` writes files.
"""
