"""The contracts between stages: what one stage writes and a later one reads (training lists and
checkpoint paths, the style-family catalogue and slots, the manifest format, the results row).
It imports only ground (core, data, models)."""
