"""The constant parts of an exported Python project (codeexport.py fills in the rest).

Each file here is the exported file itself, with marked lines (`# @NAME@`) where the
model's code and settings go; they are never imported in the studio.
"""
