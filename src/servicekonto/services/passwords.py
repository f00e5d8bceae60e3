"""Argon2id password hashing with explicit parameters (measured in bench/, documented in
docs/security.md): m=19456 KiB, t=2, p=1 — OWASP's choice, ≈ 16 ms a hash on one core. The library
default (64 MiB, t=3, p=4) would cost ≈ 130 ms and cap logins at ≈ 8/s/core."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from servicekonto.core.ids import random_token
from servicekonto.domain.passwords import normalise

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    memory_kib: int = 19456
    iterations: int = 2
    parallelism: int = 1
    hash_length: int = 32
    salt_length: int = 16


class PasswordHasher:
    """Hashes run on `concurrency` threads of their own (one by default). Several Argon2 runs on one core
    evict each other's memory and each gets ≈ 20 % slower; and on threads of their own the 19 MiB of each
    run come from the same, already mapped memory instead of fresh pages in whichever of the 40 request
    threads asked (measured in bench/password_login.py). A login flood cannot make a process hold more than
    `concurrency` × 19 MiB either."""

    def __init__(self, parameters: Argon2Parameters | None = None, *, concurrency: int = 1) -> None:
        p = parameters or Argon2Parameters()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self.parameters = p
        self._argon2 = Argon2Hasher(time_cost=p.iterations, memory_cost=p.memory_kib, parallelism=p.parallelism,
                                    hash_len=p.hash_length, salt_len=p.salt_length, type=Type.ID)
        # Unknown users are checked against this, so the answer takes as long as for a real one.
        self._dummy_hash = self._argon2.hash(random_token())

    def _on_hash_thread(self, function: Callable[..., T], *args: Any) -> T:
        return self._pool.submit(function, *args).result()

    def hash(self, password: str) -> str:
        return self._on_hash_thread(self._argon2.hash, normalise(password))

    def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
        """(matches, new hash when the parameters changed and the hash should be replaced)."""
        if password_hash is None:
            self.burn(password)
            return False, None
        try:
            self._on_hash_thread(self._argon2.verify, password_hash, normalise(password))
        except (VerifyMismatchError, VerificationError):
            return False, None
        except InvalidHashError:  # a damaged hash answers as slowly as a wrong password
            self.burn(password)
            return False, None
        if self._argon2.check_needs_rehash(password_hash):
            return True, self.hash(password)
        return True, None

    def burn(self, password: str) -> None:
        """Spend the time of one verification without any account (no enumeration by timing)."""
        with contextlib.suppress(VerificationError):
            self._on_hash_thread(self._argon2.verify, self._dummy_hash, normalise(password))
