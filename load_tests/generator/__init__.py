"""The open-loop load generator: raw asyncio HTTP/1.1 (`http1`), arrival schedules, the run loop (`engine`),
HDR statistics, the request mix and query sources, rate sweeps. Needs only the `load` extra."""
