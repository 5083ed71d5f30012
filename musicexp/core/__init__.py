"""The lowest floor: what every other package builds on, and which imports nothing of theirs.

registry (Step, param(), Params, Context), hashing (canonical JSON, digests, file
fingerprints), fsutil (the one atomic write, pid/host checks of temporary names, file sha256),
faults (named fault points for the crash tests), errors (UserError).
"""
