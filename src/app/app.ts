/**
 * createApp(deps): wiring only. Global hooks first (so they apply to every route, including unknown ones), then the
 * document and docs reader, then every feature's route rows.
 */
import { Elysia, type ElysiaConfig } from "elysia";
import { auditRoutes } from "../api/audit/routes.ts";
import { cliLoginRoutes } from "../api/cli-login/routes.ts";
import { keyRoutes } from "../api/keys/routes.ts";
import { metricsRoutes, operationRoutes } from "../api/ops/routes.ts";
import { sessionRoutes } from "../api/sessions/routes.ts";
import { tenantRoutes } from "../api/tenants/routes.ts";
import { AUTHZ_PATH, VERIFY_PATH, warmAuthorization, warmVerification } from "../api/verify/fast-lane.ts";
import { verifyRoutes } from "../api/verify/routes.ts";
import { isStorageUnavailable } from "../db/unavailable.ts";
import { allowedMethodsOf } from "../http/allowed-methods.ts";
import type { AppDeps } from "../http/app-deps.ts";
import { clientAddress } from "../http/client-ip.ts";
import { corsResponseHeaders, preflightHeaders } from "../http/cors.ts";
import { answerError, lastResortResponse, logServerError, MethodNotAllowed, toAppError } from "../http/error-edge.ts";
import { errorFormats, mountRoutes } from "../http/mount.ts";
import { DOCS_PATH, OPENAPI_PATH, openapiPlugin } from "../http/openapi.ts";
import {
  ANSWER_HEADERS,
  beginRequest,
  recordRequest,
  requestStateOf,
  type SocketServer,
  socketAddressOf,
} from "../http/request-state.ts";
import type { AnyRoute } from "../http/route.ts";
import { AppError } from "../lib/errors.ts";

export const ALL_ROUTES: readonly AnyRoute[] = [
  ...operationRoutes,
  ...metricsRoutes,
  ...verifyRoutes,
  ...keyRoutes,
  ...sessionRoutes,
  ...cliLoginRoutes,
  ...tenantRoutes,
  ...auditRoutes,
];

export function createApp(deps: AppDeps, routes: readonly AnyRoute[] = ALL_ROUTES) {
  const formats = errorFormats(routes);
  const allowedMethods = allowedMethodsOf(routes, [OPENAPI_PATH, DOCS_PATH]);
  // Bun's own router sends the hot routes to their fast lanes, which hand what they do not answer to the app.
  const fastRoutes = {
    [AUTHZ_PATH]: { GET: (request: Request, server: SocketServer | null) => authzLane(app, deps, request, server) },
    [VERIFY_PATH]: {
      POST: (request: Request, server: SocketServer | null) =>
        warmVerification(deps, request, server, (pipelined) => app.fetch(pipelined)),
    },
  };
  const app = new Elysia({ serve: { routes: fastRoutes } } as ElysiaConfig<"">)
    // Every hook names the context fields it reads (see request-state.ts for why).
    .onError({ as: "global" }, ({ request, code, error, set, route }) => {
      const state = requestStateOf(request) ?? beginRequest(request, deps.clock.nowMilliseconds(), null);
      const failure = toAppError(code, error);
      logServerError(deps.logger, failure, {
        requestId: state.requestId,
        method: request.method,
        route: route || "unmatched",
      });
      if (isStorageUnavailable(error)) deps.metrics.databaseErrors++;
      const answer = answerError(failure, state.requestId, formats.get(`${request.method} ${route}`));
      if (answer.status === 429) deps.metrics.rateLimited++;
      set.status = answer.status;
      Object.assign(set.headers, answer.headers, { "x-request-id": state.requestId });
      recordRequest(deps, request, route || "unmatched", answer.status);
      return answer.body;
    })
    .onRequest(({ request, set, server }) => {
      const clientIp = clientAddress(
        socketAddressOf(server, request),
        request.headers.get("x-forwarded-for"),
        deps.settings.trustedProxies,
      );
      const state = beginRequest(request, deps.clock.nowMilliseconds(), clientIp);
      set.headers["x-request-id"] = state.requestId;
      if (!deps.status.ready) throw new AppError("UNAVAILABLE", { message: "Starting: not ready yet." });
      Object.assign(set.headers, ANSWER_HEADERS);
      const origin = request.headers.get("origin");
      const listed = origin !== null && deps.origins.isListed(origin);
      if (request.method === "OPTIONS") {
        if (!listed) throw new AppError("ORIGIN_NOT_ALLOWED", { message: "No project allows this origin." });
        return new Response(null, {
          status: 204,
          headers: { ...preflightHeaders(origin), "x-request-id": state.requestId },
        });
      }
      if (listed) Object.assign(set.headers, corsResponseHeaders(origin));
      const allowed = allowedMethods(pathOf(request.url));
      if (allowed !== undefined && !allowed.includes(request.method)) throw new MethodNotAllowed(allowed);
      // A body is judged (size, type, syntax) by the route that reads one, after the credential: src/http/mount.ts.
    })
    .use(openapiPlugin(deps.settings.version, deps.settings));
  mountRoutes(app as unknown as Elysia, deps, routes);
  return app;
}

/** The path of an absolute request URL, without parsing all of it (this runs for every request). */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.indexOf("?", start);
  return end < 0 ? url.slice(start) : url.slice(start, end);
}

export type App = ReturnType<typeof createApp>;

function authzLane(app: App, deps: AppDeps, request: Request, server: SocketServer | null) {
  const fast = warmAuthorization(deps, request, server);
  if (fast instanceof Promise) return fast.then((answer) => answer ?? app.fetch(request));
  return fast ?? app.fetch(request);
}

/**
 * Puts the app on a port: `reusePort: false` unless several workers share it, so a second server on a taken port
 * fails instead of sharing it.
 */
export function listenApp(
  app: App,
  deps: AppDeps,
  address: { port: number; hostname: string; reusePort?: boolean },
): void {
  app.listen({
    ...address,
    reusePort: address.reusePort ?? false,
    development: false,
    error: (error: Error) => lastResortResponse(error, deps.logger),
  });
}

/** The app answering one request in-process (tests, `latchkey openapi`), with the same last resort as on a port. */
export async function handleInProcess(app: App, deps: AppDeps, request: Request): Promise<Response> {
  try {
    const path = pathOf(request.url);
    if (path === AUTHZ_PATH && request.method === "GET") return await authzLane(app, deps, request, null);
    if (path === VERIFY_PATH && request.method === "POST") {
      return await warmVerification(deps, request, null, (pipelined) => app.handle(pipelined));
    }
    return await app.handle(request);
  } catch (error) {
    return lastResortResponse(error, deps.logger);
  }
}
