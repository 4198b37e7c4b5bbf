/**
 * Tenants and projects: creation, reading, changes and deletion by the root key. Every change commits with its audit
 * event in one transaction, with a change-log entry that drops the cached rows in every process sharing the database
 * (at once in this one), so a change takes effect on the next request of every key.
 *
 * Deleting is final and keeps the record (marked `deletedAtMs`) for the audit trail: a deleted project's keys are
 * revoked in the same transaction (its tokens die with them), a deleted tenant takes all its projects with it, and
 * neither takes changes, new projects or new keys again (409). The default tenant and project cannot be deleted.
 */

import type { ChangeRecorder } from "../../db/change-recorder.ts";
import type { ProjectRow, TenantRow } from "../../db/schema.ts";
import type { Executor, Storage } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { MODULES, type Module } from "../../lib/modules.ts";
import { type Page, pageOf } from "../../lib/pagination.ts";
import { type AuditActor, recordAuditEvent } from "../audit/service.ts";
import { revokeKeysOfProject } from "../keys/service.ts";
import { PROJECT_DEFAULTS, type Subscription, type TenantStatus } from "./model.ts";
import * as store from "./store.ts";

export interface TenancyDeps {
  storage: Storage;
  changeLog: ChangeRecorder;
}

export interface NewTenant {
  name: string;
  status?: TenantStatus;
  subscription?: Subscription;
  modules?: Module[];
}

export async function createTenant(
  deps: TenancyDeps,
  actor: AuditActor,
  input: NewTenant,
  nowMilliseconds: number,
): Promise<TenantRow> {
  const tenant: TenantRow = {
    id: newId("tenant", nowMilliseconds),
    name: input.name,
    status: input.status ?? "active",
    subscription: input.subscription ?? "active",
    modules: normaliseModules(input.modules ?? [...MODULES]),
    isDefault: false,
    createdAtMs: nowMilliseconds,
    updatedAtMs: nowMilliseconds,
    deletedAtMs: null,
  };
  await deps.storage.writeTransaction(async (tx) => {
    await store.insertTenant(tx, tenant);
    await recordAuditEvent(
      tx,
      actor,
      {
        action: "tenant.created",
        target: { type: "tenant", id: tenant.id },
        tenantId: tenant.id,
        projectId: null,
        details: {
          name: tenant.name,
          status: tenant.status,
          subscription: tenant.subscription,
          modules: tenant.modules,
        },
      },
      nowMilliseconds,
    );
  });
  return tenant;
}

export async function getTenant(deps: TenancyDeps, tenantId: string): Promise<TenantRow> {
  const tenant = await store.findTenant(deps.storage.reader, tenantId);
  if (!tenant) throw new AppError("NOT_FOUND", { message: "No such tenant." });
  return tenant;
}

export async function listTenants(deps: TenancyDeps, page: store.ListFilter): Promise<Page<TenantRow>> {
  return pageOf(await store.listTenants(deps.storage.reader, page), page.limit);
}

/**
 * A change to a record: the fields to set, and the read-only ones the caller sent back (a read-modify-write sends the
 * whole record), which must still hold their stored values.
 */
export interface Update<Changes, Row> {
  changes: Changes;
  unchanged?: Partial<Row>;
}

export async function updateTenant(
  deps: TenancyDeps,
  actor: AuditActor,
  tenantId: string,
  { changes, unchanged = {} }: Update<store.TenantChanges, TenantRow>,
  nowMilliseconds: number,
): Promise<TenantRow> {
  const normalised = changes.modules ? { ...changes, modules: normaliseModules(changes.modules) } : changes;
  return deps.storage.writeTransaction(async (tx) => {
    const before = await store.findTenant(tx, tenantId);
    if (!before) throw new AppError("NOT_FOUND", { message: "No such tenant." });
    refuseChangeOfDeleted(before, "tenant");
    refuseReadOnlyChanges(before, unchanged);
    const changed = changedFields(before, normalised);
    if (changed.length === 0) return before;
    const after = (await store.updateTenant(tx, tenantId, normalised, nowMilliseconds))!;
    await deps.changeLog.record(tx, "tenant", tenantId, nowMilliseconds);
    await recordAuditEvent(
      tx,
      actor,
      {
        action: "tenant.updated",
        target: { type: "tenant", id: tenantId },
        tenantId,
        projectId: null,
        details: describeChanges(before, after, changed),
      },
      nowMilliseconds,
    );
    return after;
  });
}

export type NewProject = { tenantId: string; name: string } & Omit<store.ProjectChanges, "name">;

/** A project row with every setting not given at its default; the default project is made the same way. */
export function newProjectRow(input: NewProject, isDefault: boolean, nowMilliseconds: number): ProjectRow {
  return {
    id: newId("project", nowMilliseconds),
    tenantId: input.tenantId,
    name: input.name,
    isDefault,
    keyPrefix: input.keyPrefix ?? PROJECT_DEFAULTS.keyPrefix,
    allowedOrigins: input.allowedOrigins ?? [],
    verificationUrl: input.verificationUrl ?? null,
    callbackHosts: input.callbackHosts ?? null,
    ratelimitLimit: input.ratelimitLimit ?? PROJECT_DEFAULTS.ratelimitLimit,
    ratelimitWindowSeconds: input.ratelimitWindowSeconds ?? PROJECT_DEFAULTS.ratelimitWindowSeconds,
    sessionTtlSeconds: input.sessionTtlSeconds ?? PROJECT_DEFAULTS.sessionTtlSeconds,
    cliSessionTtlSeconds: input.cliSessionTtlSeconds ?? PROJECT_DEFAULTS.cliSessionTtlSeconds,
    cliKeyTtlSeconds: input.cliKeyTtlSeconds ?? PROJECT_DEFAULTS.cliKeyTtlSeconds,
    cliPollIntervalSeconds: input.cliPollIntervalSeconds ?? PROJECT_DEFAULTS.cliPollIntervalSeconds,
    cliDefaultScopes: input.cliDefaultScopes ?? null,
    cliLoopbackHttp: input.cliLoopbackHttp ?? PROJECT_DEFAULTS.cliLoopbackHttp,
    createdAtMs: nowMilliseconds,
    updatedAtMs: nowMilliseconds,
    deletedAtMs: null,
  };
}

export async function createProject(
  deps: TenancyDeps,
  actor: AuditActor,
  input: NewProject,
  nowMilliseconds: number,
): Promise<ProjectRow> {
  const project = newProjectRow(input, false, nowMilliseconds);
  await deps.storage.writeTransaction(async (tx) => {
    const tenant = await store.findTenant(tx, input.tenantId);
    if (!tenant) {
      throw new AppError("NOT_FOUND", {
        message: "No such tenant.",
        details: [{ path: "tenant_id", message: "no tenant has this id" }],
      });
    }
    if (tenant.deletedAtMs !== null) {
      throw new AppError("CONFLICT", {
        message: "The tenant was deleted: it takes no new projects.",
        details: [{ path: "tenant_id", message: "names a deleted tenant" }],
      });
    }
    await store.insertProject(tx, project);
    // Every node reads the new project's allowed origins (CORS) when this commits.
    await deps.changeLog.record(tx, "project", project.id, nowMilliseconds);
    await recordAuditEvent(
      tx,
      actor,
      {
        action: "project.created",
        target: { type: "project", id: project.id },
        tenantId: project.tenantId,
        projectId: project.id,
        details: { name: project.name },
      },
      nowMilliseconds,
    );
  });
  return project;
}

export async function getProject(deps: TenancyDeps, projectId: string): Promise<ProjectRow> {
  const project = await store.findProject(deps.storage.reader, projectId);
  if (!project) throw new AppError("NOT_FOUND", { message: "No such project." });
  return project;
}

export async function listProjects(
  deps: TenancyDeps,
  page: store.ListFilter & { tenantId?: string },
): Promise<Page<ProjectRow>> {
  return pageOf(await store.listProjects(deps.storage.reader, page), page.limit);
}

export async function updateProject(
  deps: TenancyDeps,
  actor: AuditActor,
  projectId: string,
  { changes, unchanged = {} }: Update<store.ProjectChanges, ProjectRow>,
  nowMilliseconds: number,
): Promise<ProjectRow> {
  return deps.storage.writeTransaction(async (tx) => {
    const before = await store.findProject(tx, projectId);
    if (!before) throw new AppError("NOT_FOUND", { message: "No such project." });
    refuseChangeOfDeleted(before, "project");
    refuseReadOnlyChanges(before, unchanged);
    const changed = changedFields(before, changes);
    if (changed.length === 0) return before;
    const after = (await store.updateProject(tx, projectId, changes, nowMilliseconds))!;
    await deps.changeLog.record(tx, "project", projectId, nowMilliseconds);
    await recordAuditEvent(
      tx,
      actor,
      {
        action: "project.updated",
        target: { type: "project", id: projectId },
        tenantId: after.tenantId,
        projectId,
        details: describeChanges(before, after, changed),
      },
      nowMilliseconds,
    );
    return after;
  });
}

/** Deletes a tenant and every project of it (their keys revoked); deleting it again answers the same record. */
export async function deleteTenant(
  deps: TenancyDeps,
  actor: AuditActor,
  tenantId: string,
  nowMilliseconds: number,
): Promise<TenantRow> {
  return deps.storage.writeTransaction(async (tx) => {
    const tenant = await store.findTenant(tx, tenantId);
    if (!tenant) throw new AppError("NOT_FOUND", { message: "No such tenant." });
    if (decideDeletion(tenant, "tenant") === "already deleted") return tenant;
    const deleted = (await store.markTenantDeleted(tx, tenantId, nowMilliseconds))!;
    let revokedKeys = 0;
    const projects = await store.listLiveProjectsOfTenant(tx, tenantId);
    for (const project of projects) revokedKeys += await deleteProjectIn(deps, tx, actor, project, nowMilliseconds);
    await deps.changeLog.record(tx, "tenant", tenantId, nowMilliseconds);
    await recordAuditEvent(
      tx,
      actor,
      {
        action: "tenant.deleted",
        target: { type: "tenant", id: tenantId },
        tenantId,
        projectId: null,
        details: { name: tenant.name, deleted_projects: projects.length, revoked_keys: revokedKeys },
      },
      nowMilliseconds,
    );
    return deleted;
  });
}

/** Deletes a project and revokes its keys; deleting it again answers the same record. */
export async function deleteProject(
  deps: TenancyDeps,
  actor: AuditActor,
  projectId: string,
  nowMilliseconds: number,
): Promise<ProjectRow> {
  return deps.storage.writeTransaction(async (tx) => {
    const project = await store.findProject(tx, projectId);
    if (!project) throw new AppError("NOT_FOUND", { message: "No such project." });
    if (decideDeletion(project, "project") === "already deleted") return project;
    await deleteProjectIn(deps, tx, actor, project, nowMilliseconds);
    return (await store.findProject(tx, projectId))!;
  });
}

/**
 * The deletion of one live project inside the caller's transaction: marked deleted, its keys revoked, its change
 * recorded (every node drops the project and so every cached key of it, and their tokens fail on the next request),
 * audited. Returns how many keys were revoked.
 */
async function deleteProjectIn(
  deps: TenancyDeps,
  tx: Executor,
  actor: AuditActor,
  project: ProjectRow,
  nowMilliseconds: number,
): Promise<number> {
  await store.markProjectDeleted(tx, project.id, nowMilliseconds);
  const revokedKeys = await revokeKeysOfProject(tx, actor, project, nowMilliseconds);
  await deps.changeLog.record(tx, "project", project.id, nowMilliseconds);
  await recordAuditEvent(
    tx,
    actor,
    {
      action: "project.deleted",
      target: { type: "project", id: project.id },
      tenantId: project.tenantId,
      projectId: project.id,
      details: { name: project.name, revoked_keys: revokedKeys },
    },
    nowMilliseconds,
  );
  return revokedKeys;
}

/** What a deletion does: nothing once the record is deleted (it answers the same again); never the default one. */
function decideDeletion(
  record: { deletedAtMs: number | null; isDefault: boolean },
  noun: "tenant" | "project",
): "delete" | "already deleted" {
  if (record.deletedAtMs !== null) return "already deleted";
  if (record.isDefault) {
    throw new AppError("CONFLICT", { message: `The default ${noun} cannot be deleted: the root key lives in it.` });
  }
  return "delete";
}

function refuseChangeOfDeleted(record: { deletedAtMs: number | null }, noun: "tenant" | "project"): void {
  if (record.deletedAtMs !== null) {
    throw new AppError("CONFLICT", { message: `The ${noun} was deleted: it takes no changes.` });
  }
}

/** Modules in catalogue order without repeats, so equal sets compare and store equally. */
function normaliseModules(modules: readonly Module[]): Module[] {
  return MODULES.filter((module) => modules.includes(module));
}

function changedFields<Row extends object>(before: Row, changes: Partial<Row>): (keyof Row)[] {
  return (Object.keys(changes) as (keyof Row)[]).filter(
    (field) => changes[field] !== undefined && JSON.stringify(changes[field]) !== JSON.stringify(before[field]),
  );
}

/** A read-only field sent back with another value than the stored one is refused, naming each such field. */
function refuseReadOnlyChanges<Row extends object>(before: Row, unchanged: Partial<Row>): void {
  const differing = (Object.keys(unchanged) as (keyof Row)[]).filter(
    (field) => unchanged[field] !== undefined && unchanged[field] !== before[field],
  );
  if (differing.length === 0) return;
  throw new AppError("VALIDATION_FAILED", {
    message: "Read-only fields cannot be changed.",
    details: differing.map((field) => ({ path: apiNameOf(field), message: "is read-only: cannot be changed" })),
  });
}

/** A field as the API spells it: `isDefault` → `is_default`, and `createdAtMs` → `created_at` (an ISO time there). */
function apiNameOf(field: PropertyKey): string {
  return snakeCase(String(field).replace(/AtMs$/, "At"));
}

function snakeCase(field: PropertyKey): string {
  return String(field).replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** The audit record of a change, with field names as the API spells them. */
function describeChanges<Row extends object>(before: Row, after: Row, fields: (keyof Row)[]): Record<string, unknown> {
  return {
    before: Object.fromEntries(fields.map((field) => [snakeCase(field), before[field]])),
    after: Object.fromEntries(fields.map((field) => [snakeCase(field), after[field]])),
  };
}
