"""The load tools people run: `twinrank loadtest` (`loadtest`, its spec and report), `twinrank ab`, the Locust
scenario and the echo server. Like the generator they need only the `load` extra and reach the service over
HTTP alone."""
