import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SignJWT, errors as joseErrors, jwtVerify } from "jose";
import type { ClockSource } from "../clock-source.js";
import type { Logger } from "../logger.js";

/** Who is calling: a guest user (from Login) or another groovebox service. */
export type Principal =
  | { readonly kind: "user"; readonly userId: string; readonly displayName: string }
  | { readonly kind: "service"; readonly service: string };

/** A token that is missing, malformed, forged or expired. */
export class InvalidTokenError extends Error {
  override name = "InvalidTokenError";
}

const ISSUER = "groovebox";
const AUDIENCE = "groovebox";

export interface TokenServiceOptions {
  /** The HS256 secret, at least 32 bytes. */
  secret: string;
  clock: ClockSource;
  /** How long a user token lives. */
  userTokenTtlMs?: number;
  /** How long a service token lives (they are re-issued well before). */
  serviceTokenTtlMs?: number;
}

/** Signs and verifies groovebox JWTs (HS256, via jose). */
export interface TokenService {
  signUser(user: { userId: string; displayName: string }): Promise<{ token: string; expiresAtMs: number }>;
  signService(service: string): Promise<{ token: string; expiresAtMs: number }>;
  /** Returns the principal of a valid token; throws InvalidTokenError otherwise. */
  verify(token: string): Promise<Principal>;
}

export function createTokenService(opts: TokenServiceOptions): TokenService {
  const key = new TextEncoder().encode(opts.secret);
  const userTtl = opts.userTokenTtlMs ?? 24 * 3600_000;
  const serviceTtl = opts.serviceTokenTtlMs ?? 3600_000;
  const nowSeconds = () => Math.floor(opts.clock.now() / 1000);

  async function sign(claims: Record<string, string>, subject: string, ttlMs: number) {
    const iat = nowSeconds();
    const exp = iat + Math.ceil(ttlMs / 1000);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key);
    return { token, expiresAtMs: exp * 1000 };
  }

  return {
    signUser: ({ userId, displayName }) => sign({ kind: "user", name: displayName }, userId, userTtl),
    signService: (service) => sign({ kind: "service" }, service, serviceTtl),
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: new Date(opts.clock.now()),
        });
        if (typeof payload.sub !== "string" || payload.sub === "") throw new InvalidTokenError("token has no subject");
        if (payload.kind === "user" && typeof payload.name === "string") {
          return { kind: "user", userId: payload.sub, displayName: payload.name };
        }
        if (payload.kind === "service") return { kind: "service", service: payload.sub };
        throw new InvalidTokenError("token is of an unknown kind");
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err;
        if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError("token expired");
        throw new InvalidTokenError("token is invalid");
      }
    },
  };
}

/**
 * The JWT secret a process uses. JWT_SECRET when set. In production it is required. In
 * development one random secret is made once and kept in `devSecretFile`, so every service
 * started from this checkout shares it; a warning says so.
 */
export function resolveJwtSecret(opts: {
  configured: string | undefined;
  nodeEnv: string;
  devSecretFile: string;
  logger: Logger;
}): string {
  if (opts.configured) return opts.configured;
  if (opts.nodeEnv === "production") {
    throw new Error("JWT_SECRET is required when NODE_ENV=production (at least 32 characters)");
  }
  if (!existsSync(opts.devSecretFile)) {
    mkdirSync(dirname(opts.devSecretFile), { recursive: true });
    writeFileSync(opts.devSecretFile, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  }
  opts.logger.warn(
    { file: opts.devSecretFile },
    "JWT_SECRET is not set: using a random development secret; set JWT_SECRET in production",
  );
  return readFileSync(opts.devSecretFile, "utf8").trim();
}
