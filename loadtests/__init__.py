"""Load tests and benchmark corpora for the appliance (not part of the installed package)."""
