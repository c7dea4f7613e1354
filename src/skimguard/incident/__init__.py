"""Incident scoping and reporting: exposure window, affected people and cards, notices, deadlines, drafts."""
