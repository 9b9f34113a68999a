import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { InvalidTokenError, type Principal, type TokenService } from "./tokens.js";

/** The verified caller of the current request; undefined for public methods. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "principal" });

/** Who may call a service's methods (a service that needs no credential is left out). */
export type Access = "user" | "service" | "user-or-service";

/** The token of an Authorization header value ("Bearer <token>"), or undefined. */
function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
}

/**
 * Admits a caller by the Authorization header value: the verified principal, or
 * UNAUTHENTICATED without a valid token and PERMISSION_DENIED for the wrong kind of caller.
 */
export async function authenticate<A extends Access>(
  tokens: TokenService,
  authorization: string | null | undefined,
  access: A,
): Promise<A extends "user" | "service" ? Extract<Principal, { kind: A }> : Principal> {
  const token = bearerToken(authorization);
  if (token === undefined) {
    throw new ConnectError("missing bearer token (Authorization: Bearer <token> from Login)", Code.Unauthenticated);
  }
  let principal: Principal;
  try {
    principal = await tokens.verify(token);
  } catch (err) {
    if (err instanceof InvalidTokenError) throw new ConnectError(err.message, Code.Unauthenticated);
    throw err;
  }
  if (access !== "user-or-service" && principal.kind !== access) {
    throw new ConnectError(`this method needs a ${access} credential`, Code.PermissionDenied);
  }
  return principal as A extends "user" | "service" ? Extract<Principal, { kind: A }> : Principal;
}

/**
 * Admits callers by their token (see authenticate) before a method runs, with the access its
 * service needs (services not in `access` are public), and puts the verified principal in the
 * context. A stream is admitted before its first message is read.
 */
export function createAuthInterceptor(tokens: TokenService, access: Readonly<Record<string, Access>>): Interceptor {
  return (next) => async (req) => {
    const needed = access[req.service.typeName];
    if (needed !== undefined) {
      req.contextValues.set(principalKey, await authenticate(tokens, req.header.get("authorization"), needed));
    }
    return next(req);
  };
}

/** The authenticated user of a request; PERMISSION_DENIED when the caller is not a user. */
export function requireUser(ctx: HandlerContext): Extract<Principal, { kind: "user" }> {
  const principal = ctx.values.get(principalKey);
  if (principal?.kind !== "user") throw new ConnectError("this method needs a user token", Code.PermissionDenied);
  return principal;
}
