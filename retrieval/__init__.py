"""The reference footage library (Chroma): emotion vectors and three-path retrieval. Not built yet (issue 4)."""
