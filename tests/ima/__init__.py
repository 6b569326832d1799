"""Tests of the IMA model, verifier, CLI and their interop with evmctl."""
