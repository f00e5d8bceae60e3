"""Tenant management use cases (the console, the API and the CLI all come through here)."""

from __future__ import annotations

from collections.abc import Sequence

from servicekonto.core.clock import Clock
from servicekonto.core.errors import Conflict, InvalidInput, NotFound
from servicekonto.core.i18n import _l
from servicekonto.core.ids import new_uuid
from servicekonto.domain.ports import TenantRepository
from servicekonto.domain.tenants import MAX_TENANT_NAME, Tenant, TenantStatus, normalise_tenant_name


class TenantNameInvalid(InvalidInput):
    code = "tenant.name_invalid"
    message = _l("The tenant name must have between 1 and 200 characters.")


class TenantNameTaken(Conflict):
    code = "tenant.name_taken"
    message = _l("A tenant with this name already exists.")


class TenantNotFound(NotFound):
    code = "tenant.not_found"
    message = _l("This tenant does not exist.")


class TenantService:
    def __init__(self, *, tenants: TenantRepository, clock: Clock) -> None:
        self._tenants = tenants
        self._clock = clock

    def create(self, name: str) -> Tenant:
        clean = normalise_tenant_name(name)
        if not clean or len(clean) > MAX_TENANT_NAME or not clean.isprintable():
            raise TenantNameInvalid()
        tenant = Tenant(id=str(new_uuid()), name=clean, status=TenantStatus.ACTIVE,
                        created_at=self._clock.now())
        try:
            self._tenants.add(tenant)
        except Conflict:
            raise TenantNameTaken() from None
        return tenant

    def ensure(self, name: str) -> Tenant:
        """The tenant of this name, created if missing (idempotent, for `servicekonto demo`)."""
        existing = self._tenants.get_by_name(normalise_tenant_name(name))
        return existing if existing is not None else self.create(name)

    def get(self, tenant_id: str) -> Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise TenantNotFound()
        return tenant

    def list(self) -> Sequence[Tenant]:
        return self._tenants.list()
