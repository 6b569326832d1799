"""Registers the vtpm-harness pytest plugin (the --target option, profiles, evidence).

When the package is installed the same plugin also arrives through its
pytest11 entry point, under the same name, so it is loaded once.
"""

pytest_plugins = ["harness.pytest_plugin"]
