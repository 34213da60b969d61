"""`cinedub eval`: measure dubs the way the field does (../shared/EVAL.md), and say how.

Every number names its protocol and model (see `protocols`): the packaged ASR instead of Whisper
large-v3, resemblyzer's GE2E for speaker similarity, pymcd itself for MCD, prosody-based emotion
measures because no speech-emotion weights exist offline, and speech-window agreement instead of
SyncNet. Modules: `manifest` (rows and their validation), one module per metric family (`secs`, `mcd`,
`timing`, `sync`, `emotion`), `item` (one row, every metric), `runner` (parallel workers, the
`--dub` benchmark), `report` (JSONL, summary, Markdown) and `figures` (PNG).
"""
