"""pytest_dsports: the pytest frontend of check_digitalsentry (site acceptance tests and handover reports)."""
