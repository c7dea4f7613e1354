"""Exfiltration: finding the canary values in what left the page, however a skimmer encoded them."""

from skimguard.exfil.match import CanaryValue, Hit, Matcher

__all__ = ["CanaryValue", "Hit", "Matcher"]
