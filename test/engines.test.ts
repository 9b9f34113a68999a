import { readFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";

const root = join(__dirname, "..");
const readJson = (file: string) => JSON.parse(readFileSync(join(root, file), "utf8"));

/** The oldest Node that package.json's `engines` admits: what the README and the image promise. */
const oldestNode = semver.minVersion(readJson("package.json").engines.node)!;

describe("Node engines", () => {
  it("every installed package runs on the oldest Node the project admits", () => {
    const packages: Record<string, { engines?: { node?: string } }> = readJson("package-lock.json").packages;
    const refusing = Object.entries(packages)
      .filter(([, pkg]) => typeof pkg.engines?.node === "string" && !semver.satisfies(oldestNode, pkg.engines.node))
      .map(([path, pkg]) => `${path.replace(/^.*node_modules\//, "")} needs node ${pkg.engines!.node}`);
    expect(refusing).toEqual([]);
  });

  it("the image's Node is the one package.json admits", () => {
    const images = [...readFileSync(join(root, "Dockerfile"), "utf8").matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(images.length).toBeGreaterThan(0);
    for (const major of images) expect(major).toBe(oldestNode.major);
  });
});
