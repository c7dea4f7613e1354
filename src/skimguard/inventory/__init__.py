"""Script inventory (PCI DSS 6.4.3): every script on a monitored page and its authorization."""
