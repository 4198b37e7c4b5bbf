/** A route's path with its parameters filled in: ids by the kind of resource the path is about. */
export interface PathValues {
  sessionId: string;
  userCode: string;
  tenantId: string;
  projectId: string;
  keyId: string;
  /** What a trailing `*` (forward-auth's "any path below") stands for. */
  below?: string;
}

/** The id an `:id` of this path names: tenants and projects by their own kind, every other `:id` a key. */
export function idForPath(path: string, values: Pick<PathValues, "tenantId" | "projectId" | "keyId">): string {
  if (path.startsWith("/v1/tenants")) return values.tenantId;
  if (path.startsWith("/v1/projects")) return values.projectId;
  return values.keyId;
}

export function fillPath(path: string, values: PathValues): string {
  return path
    .replace(":sessionId", values.sessionId)
    .replace(":userCode", values.userCode)
    .replace(":id", idForPath(path, values))
    .replace("*", values.below ?? "runs/1");
}
