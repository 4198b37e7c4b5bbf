/**
 * createApp(deps): wiring only. Global hooks first (so they apply to every route, including unknown ones), then the
 * document and docs reader, then every feature's route rows.
 */
import { Elysia } from "elysia";
import { auditRoutes } from "./audit/routes.ts";
import type { AppDeps } from "./deps.ts";
import { AppError } from "./errors.ts";
import { corsResponseHeaders, preflightHeaders } from "./http/cors.ts";
import { answerError, toAppError } from "./http/error-edge.ts";
import { announcesBodyOver, payloadTooLarge } from "./http/json-body.ts";
import { mountRoutes } from "./http/mount.ts";
import { openapiPlugin } from "./http/openapi.ts";
import { beginRequest, requestStateOf } from "./http/request-state.ts";
import type { AnyRoute } from "./http/route.ts";
import { keyRoutes } from "./keys/routes.ts";
import { operationRoutes } from "./ops/routes.ts";
import { sessionRoutes } from "./sessions/routes.ts";
import { tenantRoutes } from "./tenants/routes.ts";

export const ALL_ROUTES: readonly AnyRoute[] = [
  ...operationRoutes,
  ...keyRoutes,
  ...sessionRoutes,
  ...tenantRoutes,
  ...auditRoutes,
];

export function createApp(deps: AppDeps, routes: readonly AnyRoute[] = ALL_ROUTES) {
  const app = new Elysia()
    .onError({ as: "global" }, (context) => {
      const state = requestStateOf(context) ?? beginRequest(context, context.request, deps.clock.nowMilliseconds());
      const answer = answerError(toAppError(context.code, context.error, deps.logger, state.requestId), state.requestId);
      context.set.status = answer.status;
      Object.assign(context.set.headers, answer.headers, { "x-request-id": state.requestId });
      return answer.body;
    })
    .onRequest((context) => {
      const state = beginRequest(context, context.request, deps.clock.nowMilliseconds());
      context.set.headers["x-request-id"] = state.requestId;
      // Answers may carry secrets or per-key state: no shared cache should keep them unless a route says so.
      context.set.headers["cache-control"] = "no-store";
      context.set.headers["x-content-type-options"] = "nosniff";
      const origin = context.request.headers.get("origin");
      const listed = origin !== null && deps.origins.isListed(origin, state.nowMilliseconds);
      if (context.request.method === "OPTIONS") {
        if (!listed) throw new AppError("ORIGIN_NOT_ALLOWED", { message: "No project allows this origin." });
        return new Response(null, {
          status: 204,
          headers: { ...preflightHeaders(origin), "x-request-id": state.requestId },
        });
      }
      if (listed) Object.assign(context.set.headers, corsResponseHeaders(origin));
      if (announcesBodyOver(context.request, deps.settings.bodyLimitBytes)) {
        throw payloadTooLarge(deps.settings.bodyLimitBytes);
      }
    })
    .onAfterResponse((context) => {
      deps.logger.debug("request", {
        request_id: requestStateOf(context)?.requestId,
        method: context.request.method,
        route: context.route,
        status: Number(context.set.status ?? 200),
      });
    })
    .use(openapiPlugin(deps.settings.version));
  mountRoutes(app as unknown as Elysia, deps, routes);
  return app;
}
