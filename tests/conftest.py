"""Every test sees the whole command line: ``skimguard.cli.main`` registers only the commands a
command line needs (start-up time), the tests invoke ``app`` directly."""

from skimguard.cli import load_commands

load_commands()
