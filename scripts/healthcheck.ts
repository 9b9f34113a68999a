/**
 * A container's healthcheck: `node dist/scripts/healthcheck.js <operators' port>` exits 0 when
 * GET /healthz on that port of this host answers 200 within 2 s, else 1. (The image has no
 * curl; Node is there anyway.)
 */
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write("usage: healthcheck.js <operators' port>\n");
  process.exit(2);
}
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
