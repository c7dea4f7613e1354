"""skimguard: protect payment pages from web skimming, and scope the breach when one got through."""

__version__ = "0.1.0"
