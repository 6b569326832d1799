"""swtpm as a target: its control channel, its data-channel framing, its processes and state.

The targets built on these pieces live in :mod:`harness.targets.swtpm`
(spawned and attached) and :mod:`harness.targets.device` (character devices,
with :mod:`harness.swtpm.chardev` as a stand-in for /dev/tpm0).  Facts about
swtpm's protocols, as measured, are in the project notes (swtpm.md).
"""
