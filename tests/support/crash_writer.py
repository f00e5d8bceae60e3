"""A writer to kill: creates tenants through the service layer, in threads, as fast as it can, and prints
each tenant's id on stdout only after its transaction has committed.

`python -m tests.support.crash_writer PREFIX [THREADS]`, configured by the usual SERVICEKONTO_* variables.
Every line it printed is a promise: that tenant is stored, whatever happens to the process afterwards.
"""

from __future__ import annotations

import sys
import threading

from servicekonto.app import build_container
from servicekonto.settings import load_settings


def main(argv: list[str]) -> None:
    prefix = argv[0]
    threads = int(argv[1]) if len(argv) > 1 else 2
    container = build_container(load_settings())
    printing = threading.Lock()

    def write_forever(worker: int) -> None:
        number = 0
        while True:
            tenant = container.tenants.create(f"{prefix} {worker}-{number}")  # returns after COMMIT
            with printing:
                sys.stdout.write(tenant.id + "\n")
                sys.stdout.flush()
            number += 1

    workers = [threading.Thread(target=write_forever, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1:])
