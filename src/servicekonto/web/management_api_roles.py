"""Management API: the roles a tenant defines for its services (issue #10), for organisation admins to give
to members. Same authentication, tenant scoping and problem+json answers as web/management_api.py, which
includes this router; the rules are services/organisations.py's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from servicekonto.domain.admins import Principal
from servicekonto.domain.organisations import MAX_ROLE_LABEL, MAX_ROLE_NAME, ServiceRole
from servicekonto.services.organisations import OrganisationService


async def _acting(request: Request) -> Principal:
    from servicekonto.web.management_api import principal  # that module includes this one

    return await principal(request)


Acting = Annotated[Principal, Depends(_acting)]


class ServiceRoleOut(BaseModel):
    service_id: str = Field(description="The OIDC client_id or SAML entityID")
    name: str = Field(description="What the service receives at an organisation login")
    label: str


class ServiceRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: str = Field(min_length=1, max_length=1024, description="One of the tenant's services")
    name: str = Field(min_length=1, max_length=MAX_ROLE_NAME, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    label: str = Field("", max_length=MAX_ROLE_LABEL)


def _out(role: ServiceRole) -> ServiceRoleOut:
    return ServiceRoleOut(service_id=role.service_id, name=role.name, label=role.label)


def _organisations(request: Request) -> OrganisationService:
    found: OrganisationService = request.app.state.components.services["organisations"]
    return found


router = APIRouter(tags=["service-roles"])


@router.get("/tenants/{tenant_id}/service-roles", response_model=list[ServiceRoleOut],
            summary="The roles the tenant's services define")
def list_service_roles(request: Request, who: Acting, tenant_id: str) -> list[ServiceRoleOut]:
    return [_out(r) for s in _organisations(request).services_with_roles(who, tenant_id) for r in s.roles]


@router.post("/tenants/{tenant_id}/service-roles", response_model=ServiceRoleOut, status_code=201,
             summary="Define a role for one of the tenant's services (idempotent)")
def define_service_role(request: Request, who: Acting, tenant_id: str, body: ServiceRoleIn) -> ServiceRoleOut:
    return _out(_organisations(request).define_service_role(who, tenant_id, body.service_id, body.name, body.label))


@router.delete("/tenants/{tenant_id}/service-roles", status_code=204, response_class=Response,
               summary="Remove a role; members who held it lose it")
def remove_service_role(request: Request, who: Acting, tenant_id: str,
                        service_id: Annotated[str, Query(min_length=1, max_length=1024)],
                        name: Annotated[str, Query(min_length=1, max_length=MAX_ROLE_NAME)]) -> Response:
    _organisations(request).remove_service_role(who, tenant_id, service_id, name)
    return Response(status_code=204)
