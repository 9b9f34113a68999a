import { existsSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { clockSettings } from "../services/clock/config.js";
import { commonSettings, type ConfigSpec } from "../services/common/config.js";
import { gatewaySettings } from "../services/gateway/config.js";
import { playbackSettings } from "../services/playback/config.js";
import { roomsSettings } from "../services/rooms/config.js";
import { schedulerSettings } from "../services/scheduler/config.js";

/** The settings each service's main.ts reads, besides the common ones. */
const SETTINGS: Record<string, ConfigSpec> = {
  clock: clockSettings,
  rooms: roomsSettings,
  playback: playbackSettings,
  gateway: gatewaySettings,
  scheduler: schedulerSettings,
};

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
  ports?: string[];
  deploy?: { replicas?: number };
}

const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as { services: Record<string, ComposeService> };
const services = Object.entries(compose.services);

/** The groovebox services: name in the file, which service it runs, and its settings. */
const groovebox = services.flatMap(([name, svc]) => {
  const main = svc.command?.find((arg) => /^dist\/services\/\w+\/main\.js$/.test(arg));
  if (main === undefined) return [];
  const kind = main.split("/")[2]!;
  return [{ name, svc, kind, env: svc.environment ?? {} }];
});

const envNames = (spec: ConfigSpec) => Object.values(spec).map((setting) => setting.env);
/** The value of the service's own `<KIND>_<SUFFIX>` setting (its port, its operators' port). */
const own = (g: (typeof groovebox)[number], suffix: string) => g.env[`${g.kind.toUpperCase()}_${suffix}`];

describe("docker-compose.yml", () => {
  it("runs every service, two gateways and two schedulers", () => {
    expect(new Set(groovebox.map((g) => g.kind))).toEqual(new Set(Object.keys(SETTINGS)));
    const count = (kind: string) => groovebox.filter((g) => g.kind === kind).reduce((n, g) => n + (g.svc.deploy?.replicas ?? 1), 0);
    expect(count("gateway")).toBeGreaterThanOrEqual(2);
    expect(count("scheduler")).toBeGreaterThanOrEqual(2);
  });

  it("builds one image, once, and runs every service from it", () => {
    const builders = services.filter(([, svc]) => svc.build !== undefined);
    expect(builders).toHaveLength(1);
    const image = builders[0]![1].image;
    expect(image).toMatch(/^groovebox-sync:/);
    for (const g of groovebox) expect(g.svc.image).toBe(image);
  });

  it("gives every service a healthcheck, on its operators' port for groovebox services", () => {
    for (const [name, svc] of services) expect([name, svc.healthcheck?.test?.[0]]).toEqual([name, "CMD"]);
    for (const g of groovebox) {
      expect([g.name, g.svc.healthcheck?.test]).toEqual([g.name, ["CMD", "node", "dist/scripts/healthcheck.js", own(g, "OPERATOR_PORT")]]);
    }
    expect(existsSync("scripts/healthcheck.ts")).toBe(true);
  });

  it("sets only variables the services' config modules read", () => {
    for (const g of groovebox) {
      const known = new Set([...envNames(commonSettings), ...envNames(SETTINGS[g.kind]!)]);
      expect([g.name, Object.keys(g.env).filter((name) => !known.has(name))]).toEqual([g.name, []]);
    }
  });

  it("starts a service once Redis and the services it calls are healthy", () => {
    const byName = new Map(groovebox.map((g) => [g.name, g]));
    for (const g of groovebox) {
      const needs = ["redis"];
      for (const [variable, value] of Object.entries(g.env).filter(([variable]) => variable.endsWith("_URL") && variable !== "REDIS_URL")) {
        const url = new URL(value);
        const target = byName.get(url.hostname);
        expect([g.name, variable, target?.kind]).toEqual([g.name, variable, variable.replace(/_URL$/, "").toLowerCase()]);
        expect([g.name, variable, url.port]).toEqual([g.name, variable, own(target!, "PORT")]);
        needs.push(url.hostname);
      }
      for (const dependency of needs) {
        expect([g.name, dependency, g.svc.depends_on?.[dependency]?.condition]).toEqual([g.name, dependency, "service_healthy"]);
      }
    }
  });

  it("publishes the gateways' public port only, never an operators' port", () => {
    for (const g of groovebox) {
      const published = (g.svc.ports ?? []).map((p) => p.split(":").pop());
      expect([g.name, published]).toEqual([g.name, g.kind === "gateway" ? [own(g, "PORT")] : []]);
      expect(published).not.toContain(own(g, "OPERATOR_PORT"));
    }
    for (const [name, svc] of services.filter(([n]) => !groovebox.some((g) => g.name === n))) {
      expect([name, svc.ports ?? []]).toEqual([name, []]);
    }
  });

  it("builds on Node 20, as package.json asks", () => {
    const bases = readFileSync("Dockerfile", "utf8")
      .split("\n")
      .filter((line) => /^FROM\s/i.test(line))
      .map((line) => line.split(/\s+/)[1]);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toMatch(/^node:20[.-]/);
    const engines = (JSON.parse(readFileSync("package.json", "utf8")) as { engines: { node: string } }).engines.node;
    expect(engines).toMatch(/^>=20\b/);
  });
});
