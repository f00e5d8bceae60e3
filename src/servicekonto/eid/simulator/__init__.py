"""The eID simulator of a test system (DESIGN.md §6): a TR-03130 eID server on our own routes, and test ID
cards an eID-client page (in place of AusweisApp) presents to it. Production refuses to start with it
(`Settings._production_is_strict`)."""
