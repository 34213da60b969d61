"""The Gradio studio. Not built yet (issue 7)."""
