"""What one Argon2id verification costs on one core, for our parameters and the usual alternatives.

Each set is verified in a loop (argon2-cffi, one stored hash of a 15-character password) for about a second,
five times, interleaved across the sets (A, B, C …, A, B, C …) to spread drift; the table gives the median
ms per verification (wall) and the CPU ms (process time, less sensitive to a shared machine), and what that
means for logins per second per core. The whole process is pinned to one CPU (the benchmarks' server CPU),
so p=4 runs its four lanes one after another, as on a core that serves other requests.

Usage: python bench/argon2_parameters.py [--repeats 5] [--seconds 1.0] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field

PASSWORD = "Heidestr17Köln!"


@dataclass
class ParameterSet:
    name: str
    memory_kib: int
    iterations: int
    parallelism: int
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"m={self.memory_kib} KiB ({self.memory_kib / 1024:g} MiB), t={self.iterations}, p={self.parallelism}"


def parameter_sets() -> list[ParameterSet]:
    from argon2 import PasswordHasher

    from servicekonto.services.passwords import Argon2Parameters

    ours = Argon2Parameters()
    default = PasswordHasher()  # the library default is RFC 9106's second recommendation
    return [
        ParameterSet("ours (OWASP first choice)", ours.memory_kib, ours.iterations, ours.parallelism),
        ParameterSet("Keycloak-like", 7168, 5, 1),
        ParameterSet("12288 KiB, t=3", 12288, 3, 1),
        ParameterSet("OWASP alternative", 47104, 1, 1),
        ParameterSet("RFC 9106 second rec. = argon2-cffi default", default.memory_cost, default.time_cost,
                     default.parallelism),
    ]


def measure(parameters: ParameterSet, seconds: float) -> None:
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(time_cost=parameters.iterations, memory_cost=parameters.memory_kib,
                            parallelism=parameters.parallelism, hash_len=32, salt_len=16, type=Type.ID)
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)  # warm
    count = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while count < 3 or time.perf_counter() - started < seconds:
        hasher.verify(stored, PASSWORD)
        count += 1
    parameters.wall_ms.append((time.perf_counter() - started) / count * 1e3)
    parameters.cpu_ms.append((time.process_time() - cpu_started) / count * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="repeats per set (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one repeat (default 1.0)")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0, the server CPU)")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 20 or not 0.2 <= args.seconds <= 10:
        parser.error("--repeats 1..20 and --seconds 0.2..10 (the benchmark stays bounded)")
    pinned = False
    if hasattr(os, "sched_setaffinity") and args.cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.cpu})
        pinned = True
    sets = parameter_sets()
    for _ in range(args.repeats):
        for parameters in sets:
            measure(parameters, args.seconds)
    ours = statistics.median(sets[0].wall_ms)
    print()
    print(f"Argon2id verify, argon2-cffi, 32-byte hash, 16-byte salt; "
          f"{'pinned to CPU ' + str(args.cpu) if pinned else 'not pinned'}; "
          f"median of {args.repeats} × ≥{args.seconds:g} s, interleaved")
    print()
    print("| parameters | set | ms/verify (min–max) | CPU ms | verifications/s/core | × ours |")
    print("|---|---|---:|---:|---:|---:|")
    for parameters in sets:
        wall = statistics.median(parameters.wall_ms)
        print(f"| {parameters.label} | {parameters.name} | {wall:.1f} ({min(parameters.wall_ms):.1f}–"
              f"{max(parameters.wall_ms):.1f}) | {statistics.median(parameters.cpu_ms):.1f} | {1e3 / wall:.0f} | "
              f"{wall / ours:.2f} |")


if __name__ == "__main__":
    main()
