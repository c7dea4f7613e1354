"""Every test sees the whole command line: ``skimguard.cli.main`` registers only the commands a
command line needs (start-up time), the tests invoke ``app`` directly.

The cache of compiled rules (``SKIMGUARD_CACHE_DIR``) goes to a folder of this test session, not
the user's: the tests (and the commands they start) fill it and read it back like a user's runs do."""

import atexit
import os
import shutil
import tempfile

from skimguard.cli import load_commands

if "SKIMGUARD_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="skimguard-test-cache-")
    os.environ["SKIMGUARD_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)

load_commands()
