/** Tenant and project administration: root key only. */

import * as tenancy from "../../domain/tenants/service.ts";
import { route } from "../../http/route.ts";
import { ErrorResponse, listOf, listResponse } from "../../http/wire.ts";
import {
  CreateProjectBody,
  CreateTenantBody,
  Project,
  ProjectListQuery,
  ProjectParams,
  presentProject,
  presentTenant,
  projectSettingsFromWire,
  readOnlyFromWire,
  Tenant,
  TenantListQuery,
  TenantParams,
  UpdateProjectBody,
  UpdateTenantBody,
} from "./schemas.ts";

export const tenantRoutes = [
  route({
    method: "POST",
    path: "/v1/tenants",
    operationId: "createTenant",
    summary: "Create a tenant (a customer account); all modules are enabled unless listed.",
    tags: ["tenants"],
    credential: "root",
    body: CreateTenantBody,
    responses: { 200: Tenant },
    handle: async ({ deps, actor, body, nowMilliseconds }) =>
      presentTenant(await tenancy.createTenant(deps, actor, body, nowMilliseconds)),
  }),
  route({
    method: "GET",
    path: "/v1/tenants",
    operationId: "listTenants",
    summary: "List tenants, newest first (deleted ones only with include_deleted=true).",
    tags: ["tenants"],
    credential: "root",
    query: TenantListQuery,
    responses: { 200: listOf(Tenant) },
    handle: async ({ deps, query }) => {
      const page = await tenancy.listTenants(deps, {
        beforeId: query.cursor,
        limit: query.limit,
        includeDeleted: query.include_deleted,
      });
      return listResponse(page.items.map(presentTenant), page.nextCursor);
    },
  }),
  route({
    method: "GET",
    path: "/v1/tenants/:id",
    operationId: "getTenant",
    summary: "Read a tenant (a deleted one too, with its deleted_at).",
    tags: ["tenants"],
    credential: "root",
    params: TenantParams,
    responses: { 200: Tenant, 404: ErrorResponse },
    handle: async ({ deps, params }) => presentTenant(await tenancy.getTenant(deps, params.id)),
  }),
  route({
    method: "PATCH",
    path: "/v1/tenants/:id",
    operationId: "updateTenant",
    summary: "Change a tenant's name, status, subscription or modules.",
    description:
      "Suspending, setting the subscription to past_due or cancelled, or removing a module takes effect on the very " +
      "next request of every key of the tenant (403 TENANT_SUSPENDED, SUBSCRIPTION_PAST_DUE, SUBSCRIPTION_CANCELLED, " +
      "MODULE_NOT_ENABLED).",
    tags: ["tenants"],
    credential: "root",
    params: TenantParams,
    body: UpdateTenantBody,
    responses: { 200: Tenant, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, actor, params, body, nowMilliseconds }) =>
      presentTenant(
        await tenancy.updateTenant(
          deps,
          actor,
          params.id,
          {
            changes: { name: body.name, status: body.status, subscription: body.subscription, modules: body.modules },
            unchanged: readOnlyFromWire(body),
          },
          nowMilliseconds,
        ),
      ),
  }),
  route({
    method: "DELETE",
    path: "/v1/tenants/:id",
    operationId: "deleteTenant",
    summary: "Delete a tenant and every project of it; their keys are revoked. Repeating answers the same.",
    description:
      "Every key of the tenant's projects is refused on its very next request (401 API_KEY_REVOKED), and so is " +
      "every session token minted from one. The tenant and its projects are kept, with deleted_at, for the audit " +
      "trail: they can still be read, are listed only with include_deleted=true, and take no changes, projects or " +
      "keys (409). The default tenant cannot be deleted (409).",
    tags: ["tenants"],
    credential: "root",
    params: TenantParams,
    responses: { 200: Tenant, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, actor, params, nowMilliseconds }) =>
      presentTenant(await tenancy.deleteTenant(deps, actor, params.id, nowMilliseconds)),
  }),
  route({
    method: "POST",
    path: "/v1/projects",
    operationId: "createProject",
    summary: "Create a project under a tenant, with its origins, callback rules, rate-limit policy and lifetimes.",
    tags: ["tenants"],
    credential: "root",
    body: CreateProjectBody,
    responses: { 200: Project, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, actor, body, nowMilliseconds }) =>
      presentProject(
        await tenancy.createProject(
          deps,
          actor,
          { ...projectSettingsFromWire(body), tenantId: body.tenant_id, name: body.name },
          nowMilliseconds,
        ),
      ),
  }),
  route({
    method: "GET",
    path: "/v1/projects",
    operationId: "listProjects",
    summary: "List projects, newest first, optionally of one tenant (deleted ones only with include_deleted=true).",
    tags: ["tenants"],
    credential: "root",
    query: ProjectListQuery,
    responses: { 200: listOf(Project) },
    handle: async ({ deps, query }) => {
      const page = await tenancy.listProjects(deps, {
        beforeId: query.cursor,
        limit: query.limit,
        tenantId: query.tenant_id,
        includeDeleted: query.include_deleted,
      });
      return listResponse(page.items.map(presentProject), page.nextCursor);
    },
  }),
  route({
    method: "GET",
    path: "/v1/projects/:id",
    operationId: "getProject",
    summary: "Read a project (a deleted one too, with its deleted_at).",
    tags: ["tenants"],
    credential: "root",
    params: ProjectParams,
    responses: { 200: Project, 404: ErrorResponse },
    handle: async ({ deps, params }) => presentProject(await tenancy.getProject(deps, params.id)),
  }),
  route({
    method: "PATCH",
    path: "/v1/projects/:id",
    operationId: "updateProject",
    summary: "Change a project's settings; only the fields sent change.",
    tags: ["tenants"],
    credential: "root",
    params: ProjectParams,
    body: UpdateProjectBody,
    responses: { 200: Project, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, actor, params, body, nowMilliseconds }) =>
      presentProject(
        await tenancy.updateProject(
          deps,
          actor,
          params.id,
          {
            changes: projectSettingsFromWire(body),
            unchanged: { ...readOnlyFromWire(body), tenantId: body.tenant_id },
          },
          nowMilliseconds,
        ),
      ),
  }),
  route({
    method: "DELETE",
    path: "/v1/projects/:id",
    operationId: "deleteProject",
    summary: "Delete a project; its keys are revoked. Repeating answers the same.",
    description:
      "Every key of the project is refused on its very next request (401 API_KEY_REVOKED), and so is every session " +
      "token minted from one. The project is kept, with deleted_at, for the audit trail: it can still be read, is " +
      "listed only with include_deleted=true, and takes no changes or keys (409). The default project cannot be " +
      "deleted (409).",
    tags: ["tenants"],
    credential: "root",
    params: ProjectParams,
    responses: { 200: Project, 404: ErrorResponse, 409: ErrorResponse },
    handle: async ({ deps, actor, params, nowMilliseconds }) =>
      presentProject(await tenancy.deleteProject(deps, actor, params.id, nowMilliseconds)),
  }),
];
