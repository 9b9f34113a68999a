import { isIP } from "node:net";
import { rateSetting } from "../common/rate-limit.js";
import { booleanSetting, numberSetting, optionalStringSetting, portSetting, urlSetting, type Setting } from "../common/config.js";
import { parseCorsOrigins, type CorsOrigins } from "../common/cors.js";

/** GATEWAY_CORS_ORIGINS: the web origins allowed to call the public port (none when unset). */
const corsOriginsSetting: Setting<CorsOrigins> = {
  env: "GATEWAY_CORS_ORIGINS",
  parse: (raw) => (raw === undefined ? [] : parseCorsOrigins(raw)),
};

/** The gateway's own settings (besides the common ones). */
export const gatewaySettings = {
  port: portSetting("GATEWAY_PORT", 8080),
  /** GET /healthz and /metrics for operators (not on the public port). */
  operatorPort: portSetting("GATEWAY_OPERATOR_PORT", 9080),
  clockUrl: urlSetting("CLOCK_URL", "http://127.0.0.1:8081", ["http", "https"]),
  playbackUrl: urlSetting("PLAYBACK_URL", "http://127.0.0.1:8082", ["http", "https"]),
  roomsUrl: urlSetting("ROOMS_URL", "http://127.0.0.1:8083", ["http", "https"]),
  maxPingsPerSecond: numberSetting("GATEWAY_MAX_PINGS_PER_SECOND", 10, { min: 0.1 }),
  pingBurst: numberSetting("GATEWAY_PING_BURST", 20, { min: 1, integer: true }),
  maxPingViolations: numberSetting("GATEWAY_MAX_PING_VIOLATIONS", 50, { min: 1, integer: true }),
  maxMessageBytes: numberSetting("GATEWAY_MAX_MESSAGE_BYTES", 64 * 1024, { min: 1024, integer: true }),
  outboundCapacity: numberSetting("GATEWAY_STREAM_BUFFER", 256, { min: 8, integer: true }),
  maxPendingRequests: numberSetting("GATEWAY_MAX_PENDING_REQUESTS", 16, { min: 1, integer: true }),
  maxStreamsPerUser: numberSetting("GATEWAY_MAX_STREAMS_PER_USER", 16, { min: 1, integer: true }),
  sampleBatchDelayMs: numberSetting("GATEWAY_SAMPLE_BATCH_MS", 50, { min: 0, integer: true }),
  sampleBatchMax: numberSetting("GATEWAY_SAMPLE_BATCH_MAX", 1000, { min: 1, integer: true }),
  /** How often the gateway renews its streams' room leases (the rooms service's lease is longer). */
  leaseRenewMs: numberSetting("GATEWAY_LEASE_RENEW_MS", 10_000, { min: 100, integer: true }),
  /** gRPC clients' streams take the gateway's own lean path (grpc-streams.ts); off: all go through connect-es. */
  grpcFastPath: booleanSetting("GATEWAY_GRPC_FAST_PATH", true),
  /**
   * A public connection that sends nothing, never finishes its headers, or has no call open is
   * closed this long after it opened or its last call ended (slow and idle clients).
   */
  idleTimeoutMs: numberSetting("GATEWAY_IDLE_TIMEOUT_MS", 10_000, { min: 100, integer: true }),
  /** How often the gateway measures the other services' clocks against its own (/metrics); 0: never. */
  clockCheckMs: numberSetting("GATEWAY_CLOCK_CHECK_MS", 60_000, { min: 0, integer: true }),
  /** Rounds of Ping bursts per check (7 bursts of 8 pings each): more is steadier and takes longer. */
  clockCheckRounds: numberSetting("GATEWAY_CLOCK_CHECK_ROUNDS", 10, { min: 1, integer: true }),
  /** The browser page served at / (a directory with index.html); unset: the one built beside the gateway (dist/web). */
  webDir: optionalStringSetting("GATEWAY_WEB_DIR"),
  /** Web pages from these origins may call the public port with Connect and gRPC-Web ("*": any). */
  corsOrigins: corsOriginsSetting,
  /** New connections that have not started a call; more are closed at once (a burst is shed, not queued). */
  maxPendingConnections: numberSetting("GATEWAY_MAX_PENDING_CONNECTIONS", 64, { min: 1, integer: true }),
  /** How long a new connection counts as pending at most, so silent ones cannot keep others out. */
  connectionHandshakeMs: numberSetting("GATEWAY_CONNECTION_HANDSHAKE_MS", 1000, { min: 10, integer: true }),
  /**
   * How long a call to a service behind the gateway may take when its caller set no deadline;
   * then it ends with DEADLINE_EXCEEDED.
   */
  internalTimeoutMs: numberSetting("GATEWAY_INTERNAL_TIMEOUT_MS", 5000, { min: 100, integer: true }),
  /** Unary calls forwarded at once (logins, rooms, playback); more are refused with UNAVAILABLE. */
  maxCallsInProgress: numberSetting("GATEWAY_MAX_CALLS_IN_PROGRESS", 256, { min: 1, integer: true }),
  /** Logins per client address (all gateways together); "N/window" with s, m or h. */
  loginRatePerAddress: rateSetting("GATEWAY_LOGIN_RATE_PER_ADDRESS", "30/1m"),
  /** Logins from everyone together (all gateways). */
  loginRate: rateSetting("GATEWAY_LOGIN_RATE", "200/1s"),
  /** Load balancers whose X-Forwarded-For is believed (exact addresses, comma-separated); none by default. */
  trustedProxies: addressSetSetting("GATEWAY_TRUSTED_PROXIES"),
};

/** A comma-separated list of IP addresses; empty when unset. */
function addressSetSetting(env: string): Setting<ReadonlySet<string>> {
  return {
    env,
    parse(raw) {
      const list = (raw ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      for (const address of list) if (isIP(address) === 0) throw new Error(`"${address}" is not an IP address`);
      return new Set(list);
    },
  };
}
