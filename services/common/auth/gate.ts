import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { InvalidTokenError, type Principal, type TokenService } from "./tokens.js";

/** The verified caller of the current request; undefined for public methods. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "principal" });

/** Who may call a set of methods. */
export type Access = "public" | "user" | "service" | "user-or-service";

/** Reads the bearer token of a request, or undefined. */
export function bearerToken(headers: Headers): string | undefined {
  const value = headers.get("authorization");
  if (!value) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1];
}

/**
 * A request gate (runs on the headers, before any request message is read) that admits
 * callers by their token and puts the verified principal in the context:
 * UNAUTHENTICATED without a valid token, PERMISSION_DENIED for the wrong kind of caller.
 */
export function createAuthGate(tokens: TokenService, access: Access) {
  return async (ctx: HandlerContext): Promise<void> => {
    if (access === "public") return;
    const token = bearerToken(ctx.requestHeader);
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
    ctx.values.set(principalKey, principal);
  };
}

/** The authenticated user of a request; PERMISSION_DENIED when the caller is not a user. */
export function requireUser(ctx: HandlerContext): Extract<Principal, { kind: "user" }> {
  const principal = ctx.values.get(principalKey);
  if (principal?.kind !== "user") throw new ConnectError("this method needs a user token", Code.PermissionDenied);
  return principal;
}
