/**
 * Builds the browser page (clients/web) into a directory the gateway serves: index.html,
 * page.css, favicon.svg, and page.js, one ES module bundled by esbuild from page.ts and the SDK's browser
 * entry (`groovebox-sync/sdk` with the "browser" condition: connect-web, no Node modules).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";

export interface WebBundleOptions {
  /** Where the page goes (dist/web for the gateway). */
  outDir: string;
  /** The repository (default: the current directory, as npm runs scripts). */
  root?: string;
  /**
   * Bundle the SDK from its TypeScript sources instead of its build in dist/ (what tests
   * do: they run from the sources, and dist/ may be older).
   */
  sdkFromSources?: boolean;
}

/** The page's own files, copied as they are. */
const STATIC_FILES = ["index.html", "page.css", "favicon.svg"];

/** Builds the page; returns the size of its script in bytes. */
export async function buildWebPage(opts: WebBundleOptions): Promise<number> {
  const root = resolve(opts.root ?? ".");
  const web = join(root, "clients/web");
  mkdirSync(opts.outDir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(web, "page.ts")],
    outfile: join(opts.outDir, "page.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    // Browsers with Web Audio's outputLatency and fetch streams (Chrome 102, Firefox 70, Safari 16).
    target: ["chrome102", "firefox100", "safari16"],
    minify: true,
    sourcemap: "linked",
    metafile: true,
    tsconfig: join(web, "tsconfig.json"),
    alias: opts.sdkFromSources ? { "groovebox-sync/sdk": join(root, "clients/sdk/browser.ts") } : {},
    logLevel: "warning",
  });
  for (const name of STATIC_FILES) copyFileSync(join(web, name), join(opts.outDir, name));
  const inputs = [...Object.keys(result.metafile!.inputs).map((p) => resolve(root, p)), ...STATIC_FILES.map((n) => join(web, n))];
  writeFileSync(inputsFile(opts.outDir), JSON.stringify(inputs));
  return statSync(join(opts.outDir, "page.js")).size;
}

/** The list of files the last build read, beside the page (not in it: the gateway serves the page's directory). */
const inputsFile = (outDir: string) => `${resolve(outDir)}.inputs.json`;

/** True when the page in `outDir` was built after every file it was built from last changed. */
export function webPageUpToDate(outDir: string): boolean {
  const page = join(outDir, "page.js");
  if (!existsSync(page) || !existsSync(inputsFile(outDir))) return false;
  const builtAt = statSync(page).mtimeMs;
  const inputs = JSON.parse(readFileSync(inputsFile(outDir), "utf8")) as string[];
  return inputs.every((file) => existsSync(file) && statSync(file).mtimeMs <= builtAt);
}
