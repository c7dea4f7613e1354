"""Demo shop with switchable web-skimming attack scenarios (see DESIGN.md §1)."""

from .shop import SCENARIOS, DemoShop, Hit

__all__ = ["SCENARIOS", "DemoShop", "Hit"]
