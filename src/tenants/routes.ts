/** Tenant and project administration: root key only. */
import { route } from "../http/route.ts";
import { ErrorResponse, listOf, listResponse } from "../http/wire.ts";
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
import * as tenancy from "./service.ts";

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
    summary: "List tenants, newest first.",
    tags: ["tenants"],
    credential: "root",
    query: TenantListQuery,
    responses: { 200: listOf(Tenant) },
    handle: async ({ deps, query }) => {
      const page = await tenancy.listTenants(deps, { beforeId: query.cursor, limit: query.limit });
      return listResponse(page.items.map(presentTenant), page.nextCursor);
    },
  }),
  route({
    method: "GET",
    path: "/v1/tenants/:id",
    operationId: "getTenant",
    summary: "Read a tenant.",
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
    responses: { 200: Tenant, 404: ErrorResponse },
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
    method: "POST",
    path: "/v1/projects",
    operationId: "createProject",
    summary: "Create a project under a tenant, with its origins, callback rules, rate-limit policy and lifetimes.",
    tags: ["tenants"],
    credential: "root",
    body: CreateProjectBody,
    responses: { 200: Project, 404: ErrorResponse },
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
    summary: "List projects, newest first, optionally of one tenant.",
    tags: ["tenants"],
    credential: "root",
    query: ProjectListQuery,
    responses: { 200: listOf(Project) },
    handle: async ({ deps, query }) => {
      const page = await tenancy.listProjects(deps, {
        beforeId: query.cursor,
        limit: query.limit,
        tenantId: query.tenant_id,
      });
      return listResponse(page.items.map(presentProject), page.nextCursor);
    },
  }),
  route({
    method: "GET",
    path: "/v1/projects/:id",
    operationId: "getProject",
    summary: "Read a project.",
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
    responses: { 200: Project, 404: ErrorResponse },
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
];
