/**
 * `npm run build` (after tsc): the browser page into dist/web, where the gateway serves it at
 * /. Skipped when nothing it is built from changed since the last build.
 */
import { buildWebPage, webPageUpToDate } from "./web-bundle.js";

const outDir = "dist/web";
if (!webPageUpToDate(outDir)) {
  const bytes = await buildWebPage({ outDir });
  process.stderr.write(`browser page: ${outDir} (${Math.round(bytes / 1024)} KiB)\n`);
}
