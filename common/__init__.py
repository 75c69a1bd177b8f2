"""Small helpers every area may use (standard library only): the machine a measurement ran on, atomic file
writes, a free loopback port. No numpy, no service, no torch: the load tools stay installable alone."""
