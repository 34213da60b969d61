"""Perception tools: facts the director reads off the clip (faces, mouths, speaking windows, colour) and the line."""
