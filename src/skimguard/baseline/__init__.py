"""The approved state of a site (PCI DSS 11.6.1): snapshots built from captures, compared by detectors."""
