import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "../logger.js";
import type { AnchorReport } from "./host-clock.js";

/**
 * What the host clock's measurements show, on /metrics and in the log: how far the process
 * clock had moved from the host's realtime clock (normally well under a microsecond; more
 * means the host clock was corrected or stepped), how precisely it was measured, and steps.
 */
export function createAnchorReporter(registry: Registry, logger: Logger): (report: AnchorReport) => void {
  const correction = new Gauge({
    name: "groovebox_clock_anchor_correction_ms",
    help: "The last correction of the process clock to the host's realtime clock, ms (measured minus in use)",
    registers: [registry],
  });
  const uncertainty = new Gauge({
    name: "groovebox_clock_anchor_uncertainty_ms",
    help: "Half the spread of the tick edges of the last measurement of the host's realtime clock, ms",
    registers: [registry],
  });
  const steps = new Counter({
    name: "groovebox_clock_anchor_steps_total",
    help: "Corrections of the process clock that were stepped, not slewed (the host clock jumped)",
    registers: [registry],
  });
  const failures = new Counter({
    name: "groovebox_clock_anchor_failures_total",
    help: "Measurements of the host's realtime clock that caught no good tick edge (a loaded machine)",
    registers: [registry],
  });
  const log = logger.child({ component: "host-clock" });
  return (r) => {
    if (r.uncertaintyMs === undefined) {
      failures.inc();
      log.warn({ edgesTried: r.edgesTried }, "host clock not measured: no clean tick edge");
      return;
    }
    uncertainty.set(r.uncertaintyMs);
    if (!r.correction) return;
    correction.set(r.correction.deltaMs);
    if (r.correction.stepped) {
      steps.inc();
      log.warn({ correctionMs: r.correction.deltaMs }, "host clock stepped: process clock stepped with it");
    } else if (Math.abs(r.correction.deltaMs) > 0.05) {
      log.info({ correctionMs: r.correction.deltaMs }, "process clock slewing to the host clock");
    }
  };
}
