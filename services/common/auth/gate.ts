import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { InvalidTokenError, type Principal, type TokenService } from "./tokens.js";

/** The verified caller of the current request; undefined for public methods. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "principal" });

/** Who may call a set of methods. */
export type Access = "public" | "user" | "service" | "user-or-service";

/** The token of an Authorization header value ("Bearer <token>"), or undefined. */
function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
}

/**
 * Admits a caller by the Authorization header value: the verified principal, or
 * UNAUTHENTICATED without a valid token and PERMISSION_DENIED for the wrong kind of caller.
 */
export async function authenticate<A extends Exclude<Access, "public">>(
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
 * A request gate (runs on the headers, before any request message is read) that admits
 * callers by their token (see authenticate) and puts the verified principal in the context.
 */
export function createAuthGate(tokens: TokenService, access: Access) {
  return async (ctx: HandlerContext): Promise<void> => {
    if (access === "public") return;
    ctx.values.set(principalKey, await authenticate(tokens, ctx.requestHeader.get("authorization"), access));
  };
}

/** The authenticated user of a request; PERMISSION_DENIED when the caller is not a user. */
export function requireUser(ctx: HandlerContext): Extract<Principal, { kind: "user" }> {
  const principal = ctx.values.get(principalKey);
  if (principal?.kind !== "user") throw new ConnectError("this method needs a user token", Code.PermissionDenied);
  return principal;
}
