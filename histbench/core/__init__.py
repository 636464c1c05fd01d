"""What every layer shares: the one error type, the config, atomic files, worker pools and
how numbers with units are written."""
