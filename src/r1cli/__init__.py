"""r1cli: the DeepSeek-R1 post-training recipe as composable command-line stages.

Each stage reads and writes JSONL or checkpoint folders, so stages chain in shell pipelines
and Makefiles:

    r1cli tiny-model models/tiny
    r1cli prepare arithmetic -n 64 -o - | r1cli sample - -m models/tiny -k 4 -o - | r1cli reward - -o scored.jsonl
"""

__version__ = "0.1.0"
