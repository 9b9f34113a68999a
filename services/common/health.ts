import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/**
 * What a process serves and whether it can serve now. A service is SERVING while every
 * readiness probe passes (e.g. Redis is connected) and the process is not shutting down.
 */
export interface HealthRegistry {
  /** The status of a service ("" = the whole server); undefined for a service not served here. */
  status(service: string): ServingStatus | undefined;
  /** From now on everything reports NOT_SERVING (graceful shutdown). */
  markShuttingDown(): void;
}

export function createHealthRegistry(opts: {
  /** Fully qualified names of the services this process serves. */
  services: readonly string[];
  /** Readiness checks, e.g. () => redis.status === "ready". */
  probes?: ReadonlyArray<() => boolean>;
}): HealthRegistry {
  const services = new Set(["", Health.typeName, ...opts.services]);
  const probes = opts.probes ?? [];
  let shuttingDown = false;
  return {
    status(service) {
      if (!services.has(service)) return undefined;
      if (shuttingDown) return ServingStatus.NOT_SERVING;
      return probes.every((probe) => probe()) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    },
    markShuttingDown() {
      shuttingDown = true;
    },
  };
}

/**
 * grpc.health.v1.Health (Connect-ES has none built in). Watch reports the current status at
 * once and then each change, checking every `watchIntervalMs`, until the call ends.
 */
export function createHealthService(registry: HealthRegistry, watchIntervalMs = 1000): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = registry.status(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return { status };
    },
    async *watch(req, ctx) {
      let last: ServingStatus | undefined;
      while (!ctx.signal.aborted) {
        const status = registry.status(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield { status };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, watchIntervalMs);
          ctx.signal.addEventListener("abort", done, { once: true });
          function done() {
            clearTimeout(timer);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          }
        });
      }
    },
  };
}
