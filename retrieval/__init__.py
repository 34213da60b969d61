"""The reference footage library (Chroma): four emotion vectors per clip and three-path retrieval.

    library = ReferenceLibrary.open()              # $CINEDUB_HOME/library; or chroma_url="http://HOST:PORT"
    library.build("clips/")                        # MOVIE/CLIP.{mp4, wav|mp3, txt}; or manifest="rows.jsonl"
    library.query(clip, lines, conclusion, k=3)    # -> list[Reference], best first
"""

from .ingest import ClipSource, IngestReport, read_folder, read_manifest
from .library import DEFAULT_K, ReferenceLibrary, merge

__all__ = ["DEFAULT_K", "ClipSource", "IngestReport", "ReferenceLibrary", "merge", "read_folder", "read_manifest"]
