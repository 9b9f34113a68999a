/**
 * Typed configuration from environment variables: each setting names its variable, its
 * default and its validation. Parsed once in a service's main.ts; every problem is reported
 * at once, naming the variable, and the process stops before it listens.
 */

export type EnvSource = Readonly<Record<string, string | undefined>>;

/** One setting: the variable it reads and how a raw value becomes a typed one. */
export interface Setting<T> {
  readonly env: string;
  /** Parses the raw value (undefined when unset); throws an Error explaining a bad value. */
  parse(raw: string | undefined): T;
}

export type ConfigSpec = Record<string, Setting<unknown>>;
export type ConfigOf<S extends ConfigSpec> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** A configuration that cannot be used; the message lists every bad variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Reads every setting of `spec` from `source`; throws one ConfigError listing all problems. */
export function loadConfig<S extends ConfigSpec>(spec: S, source: EnvSource = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const raw = source[setting.env];
    try {
      out[key] = setting.parse(raw === "" ? undefined : raw);
    } catch (e) {
      problems.push(`${setting.env}=${JSON.stringify(raw ?? "")}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return out as ConfigOf<S>;
}

function withDefault<T>(raw: string | undefined, fallback: T | undefined, parse: (raw: string) => T): T {
  if (raw === undefined) {
    if (fallback === undefined) throw new Error("is required");
    return fallback;
  }
  return parse(raw.trim());
}

/** A number in [min, max]; `integer` rejects fractions. */
export function numberSetting(
  env: string,
  fallback: number | undefined,
  opts: { min?: number; max?: number; integer?: boolean } = {},
): Setting<number> {
  const { min = -Infinity, max = Infinity, integer = false } = opts;
  return {
    env,
    parse: (raw) =>
      withDefault(raw, fallback, (s) => {
        const n = Number(s);
        if (s === "" || !Number.isFinite(n)) throw new Error("must be a number");
        if (integer && !Number.isInteger(n)) throw new Error("must be a whole number");
        if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`);
        return n;
      }),
  };
}

/** A TCP port; 0 asks the system for a free one. */
export function portSetting(env: string, fallback: number): Setting<number> {
  return numberSetting(env, fallback, { min: 0, max: 65535, integer: true });
}

/** A string; `pattern` and `minLength` validate it. Without a fallback it is required. */
export function stringSetting(
  env: string,
  fallback: string | undefined,
  opts: { pattern?: RegExp; minLength?: number; describe?: string } = {},
): Setting<string> {
  return {
    env,
    parse: (raw) =>
      withDefault(raw, fallback, (s) => {
        if (opts.minLength !== undefined && s.length < opts.minLength) {
          throw new Error(`must be at least ${opts.minLength} characters`);
        }
        if (opts.pattern && !opts.pattern.test(s)) throw new Error(opts.describe ?? `must match ${opts.pattern}`);
        return s;
      }),
  };
}

/** An optional string: undefined when unset. */
export function optionalStringSetting(env: string, opts: { minLength?: number } = {}): Setting<string | undefined> {
  return {
    env,
    parse: (raw) => {
      if (raw === undefined) return undefined;
      if (opts.minLength !== undefined && raw.length < opts.minLength) {
        throw new Error(`must be at least ${opts.minLength} characters`);
      }
      return raw;
    },
  };
}

/** An absolute URL with one of the given schemes. */
export function urlSetting(env: string, fallback: string, schemes: readonly string[]): Setting<string> {
  return {
    env,
    parse: (raw) =>
      withDefault(raw, fallback, (s) => {
        let url: URL;
        try {
          url = new URL(s);
        } catch {
          throw new Error("must be an absolute URL");
        }
        if (!schemes.includes(url.protocol.replace(/:$/, ""))) {
          throw new Error(`must use ${schemes.join(" or ")}`);
        }
        return s.replace(/\/+$/, "");
      }),
  };
}

/** One of a fixed set of values. */
export function enumSetting<T extends string>(env: string, fallback: T, values: readonly T[]): Setting<T> {
  return {
    env,
    parse: (raw) =>
      withDefault(raw, fallback, (s) => {
        if (!values.includes(s as T)) throw new Error(`must be one of ${values.join(", ")}`);
        return s as T;
      }),
  };
}

/** A switch: true/false, on/off, 1/0, yes/no. */
export function booleanSetting(env: string, fallback: boolean): Setting<boolean> {
  return {
    env,
    parse: (raw) =>
      withDefault(raw, fallback, (s) => {
        const v = s.toLowerCase();
        if (["true", "on", "1", "yes"].includes(v)) return true;
        if (["false", "off", "0", "no"].includes(v)) return false;
        throw new Error("must be true or false");
      }),
  };
}

/** A comma-separated list of host:port pairs; empty when unset. */
export function hostPortListSetting(env: string): Setting<Array<{ host: string; port: number }>> {
  return {
    env,
    parse: (raw) => {
      if (raw === undefined) return [];
      return raw.split(",").map((part) => {
        const m = /^\s*\[?([^\]\s]+?)\]?:(\d{1,5})\s*$/.exec(part);
        if (!m || Number(m[2]) > 65535) throw new Error(`"${part.trim()}" is not host:port`);
        return { host: m[1]!, port: Number(m[2]) };
      });
    },
  };
}

/** The settings every service shares. */
export const commonSettings = {
  nodeEnv: enumSetting("NODE_ENV", "development", ["development", "production", "test"]),
  logLevel: enumSetting("LOG_LEVEL", "info", ["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  host: stringSetting("HOST", "127.0.0.1"),
  /** Where the operators' port (health, metrics) listens: keep it off the public network. */
  operatorHost: stringSetting("OPERATOR_HOST", "127.0.0.1"),
  redisUrl: urlSetting("REDIS_URL", "redis://127.0.0.1:6379", ["redis", "rediss"]),
  redisClusterNodes: hostPortListSetting("REDIS_CLUSTER_NODES"),
  /** How long a Redis command may wait before it fails (then the caller answers UNAVAILABLE). */
  redisCommandTimeoutMs: numberSetting("REDIS_COMMAND_TIMEOUT_MS", 1500, { min: 100, max: 60_000, integer: true }),
  jwtSecret: optionalStringSetting("JWT_SECRET", { minLength: 32 }),
  shutdownGraceMs: numberSetting("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 120_000, integer: true }),
  /** How often a process measures the host's realtime clock again (see clock/host-clock.ts). */
  clockReanchorMs: numberSetting("SERVER_CLOCK_REANCHOR_MS", 10_000, { min: 100, max: 3_600_000, integer: true }),
} satisfies ConfigSpec;

export type CommonConfig = ConfigOf<typeof commonSettings>;
