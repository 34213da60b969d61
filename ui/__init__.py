"""The Gradio studio (`cinedub ui`): a thin layer over `cinedub.studio.Studio`."""
