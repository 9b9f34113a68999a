import { Registry, collectDefaultMetrics } from "prom-client";

/**
 * The Prometheus registry of a process, with Node's default metrics (CPU, memory, event loop
 * lag, GC) and the service name as a label. Served at GET /metrics on the service's port.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
