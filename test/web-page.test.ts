import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { buildWebPage } from "../scripts/web-bundle.js";
import { startStack, type Stack } from "./support/stack.js";
import { startSwitchProxy } from "./support/switch-proxy.js";

/** Debian's chromium package (.ci/run installs it). */
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/**
 * Beyond its clock's claim, how far a page's estimate may be from the truth (ms): the
 * resolution of a page's clock (performance.now() in a page that is not cross-origin isolated
 * reads 0.1 ms steps), which the truth is read through. What the page's device clock is
 * against the host's is measured (deviceOffset), not assumed.
 */
const CHECK_SLACK_MS = 0.2;
/** Readings of a page's clock against the host's: the tightest one bounds the page's offset. */
const OFFSET_READINGS = 20;

describe("the browser page", () => {
  // The build writes a list of its inputs beside the page's directory: both in one to remove.
  const tempDir = mkdtempSync(join(tmpdir(), "groovebox-web-"));
  const pageDir = join(tempDir, "page");
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    // The page as npm run build makes it, with the SDK from its sources (dist/ may be older).
    await buildWebPage({ outDir: pageDir, sdkFromSources: true });
    // Starts a second ahead: the tone is scheduled in time even on a loaded machine.
    stack = await startStack({ gateway: { webDir: pageDir }, buffer: { minBufferMs: 1000, maxBufferMs: 1000 } });
    gw = stack.gatewayUrls[0]!;
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    rmSync(tempDir, { recursive: true, force: true });
  });

  it("is served at / with its script and style, revalidated by ETag; other paths are not found", async () => {
    const index = await fetch(`${gw}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    expect(await index.text()).toContain('<script type="module" src="page.js"></script>');
    const script = await fetch(`${gw}/page.js`);
    expect([script.status, script.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    const etag = script.headers.get("etag")!;
    expect((await fetch(`${gw}/page.js`, { headers: { "If-None-Match": etag } })).status).toBe(304);
    expect((await fetch(`${gw}/page.css`, { method: "HEAD" })).headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect((await fetch(`${gw}/`, { method: "DELETE" })).status).toBe(405);
    expect((await fetch(`${gw}/secret.json`)).status).toBe(404);
  });

  describe("in Chromium", () => {
    let context: BrowserContext;
    const profile = mkdtempSync(join(tmpdir(), "groovebox-chromium-"));
    beforeAll(async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    }, 60_000);
    afterAll(async () => {
      await context?.close();
      rmSync(profile, { recursive: true, force: true });
    });

    /** A new tab on the page (from the gateway at `url`), as `name`. */
    const open = async (name: string, url = gw): Promise<Page> => {
      const page = await context.newPage();
      await page.goto(`${url}/`);
      await page.fill("#name", name);
      return page;
    };
    /** The names in the members table, once it has `n` rows. */
    const members = async (page: Page, n: number) => {
      await page.locator("#members tr").nth(n - 1).waitFor();
      return page.locator("#members tr td:first-child").allTextContents();
    };
    /**
     * The host's clock (the services' own) minus the page's device clock (performance.timeOrigin
     * + performance.now()), as bounds: each reading between two of the host's brackets it, and
     * the tightest of a few readings is kept (a loaded machine stalls some of them for ms).
     */
    const deviceOffset = async (page: Page) => {
      let best = { before: 0, device: 0, after: Infinity };
      for (let i = 0; i < OFFSET_READINGS; i++) {
        const before = stack.clock.now();
        const device = await page.evaluate(() => performance.timeOrigin + performance.now());
        const after = stack.clock.now();
        if (after - before < best.after - best.before) best = { before, device, after };
      }
      return { lowMs: best.before - best.device, highMs: best.after - best.device };
    };
    /** What the page scheduled for the latest start (the #tone element's data attributes). */
    const tone = async (page: Page) => {
      await page.waitForSelector("#tone[data-version]");
      const data = (name: string) => page.getAttribute("#tone", `data-${name}`).then(Number);
      return { version: await data("version"), startAtServerMs: await data("start-at-server-ms"), heardLocalMs: await data("heard-local-ms"), heardServerMs: await data("heard-server-ms"), leadMs: await data("lead-ms"), errorBoundMs: await data("error-bound-ms"), rttMs: await data("rtt-ms") };
    };

    it("two pages join one room; the DJ starts; both schedule the tone at the same instant", async () => {
      const dj = await open("Ada");
      await dj.click("#create-room");
      await dj.waitForSelector("#dj:not([hidden])");
      const code = (await dj.textContent("#room-code"))!;
      expect(code).toMatch(/^[A-Z0-9]{6}$/);

      const listener = await open("Bob");
      await listener.fill("#code", code.toLowerCase());
      await listener.click("#join-room");
      expect(await members(dj, 2)).toEqual(["Ada", "Bob"]);
      expect(await members(listener, 2)).toEqual(["Ada", "Bob"]);
      expect(await listener.isHidden("#dj")).toBe(true);
      await Promise.all([dj, listener].map((p) => p.waitForSelector('#clock[data-synced="true"]')));

      await dj.fill("#track", "song-42");
      await dj.click("#start");
      const [a, b] = await Promise.all([tone(dj), tone(listener)]);
      // One timeline, one start instant.
      expect(a.startAtServerMs).toBe(b.startAtServerMs);
      expect(a.version).toBe(b.version);
      // Each page scheduled it ahead of time, and each page's clock puts it at the start instant.
      for (const t of [a, b]) {
        expect(t.leadMs).toBeGreaterThan(0);
        expect(t.heardServerMs).toBeCloseTo(t.startAtServerMs, 1);
      }
      // Each page put the start instant, server time startAtServerMs, at device time heardLocalMs:
      // that is its clock's estimate of server minus device time. Against the truth (the host's
      // clock minus the page's, measured: errorMs is the least error the estimate can have), it
      // is within what the page's clock claimed: its error bound, and half its round trip for a
      // path's asymmetry. A loaded machine widens the claim, not the promise: the claim covers
      // what the samples prove however they queued (sample-limits.ts), so only stamps that are
      // wrong (a page reading the answer late while claiming a short round trip) break it.
      for (const [page, t] of [[dj, a], [listener, b]] as const) {
        const truth = await deviceOffset(page);
        const estimateMs = t.startAtServerMs - t.heardLocalMs;
        const errorMs = Math.max(0, truth.lowMs - estimateMs, estimateMs - truth.highMs);
        expect(errorMs).toBeLessThanOrEqual(t.errorBoundMs + t.rttMs / 2 + CHECK_SLACK_MS);
      }

      // The members see each other's sync reports (every 5 s), and the position runs.
      await listener.locator("#members td", { hasText: "no report yet" }).first().waitFor({ state: "detached" });
      await listener.locator("#playback", { hasText: /^playing song-42 {2}\d+:\d\d\.\d{3}$/ }).waitFor();
    }, 120_000);

    it("a page whose connection drops says UNAVAILABLE, reconnects and stays in its room", async () => {
      const proxy = await startSwitchProxy(gw);
      try {
        const page = await open("Cleo", proxy.url);
        await page.click("#create-room");
        await page.waitForSelector("#dj:not([hidden])");
        const code = (await page.textContent("#room-code"))!;
        expect(code).toMatch(/^[A-Z0-9]{6}$/);
        await page.locator("#connection", { hasText: /^connected$/ }).waitFor();
        // Every connection of the page is cut (Subscribe's among them), the gateway stays up.
        proxy.switchTo(gw);
        const reconnecting = page.locator("#connection", { hasText: /^reconnecting/ });
        await reconnecting.waitFor();
        expect(await reconnecting.textContent()).toMatch(/^reconnecting \(\[unavailable\] /);
        await page.locator("#connection", { hasText: /^connected$/ }).waitFor();
        expect(await page.textContent("#room-code")).toBe(code);
        expect(await members(page, 1)).toEqual(["Cleo"]);
      } finally {
        await proxy.close();
      }
    }, 120_000);
  });
});
