"""pytest frontend (registered as the ``dsports`` pytest11 plugin).

Nothing happens in a pytest run that does not configure the plugin.
"""
