import * as http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../common/logger.js";
import { createWebPage } from "./web-page.js";

describe("createWebPage", () => {
  const dir = mkdtempSync(join(tmpdir(), "groovebox-page-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function serve(pageDir: string | undefined, run: (url: string) => Promise<void>) {
    const server = http.createServer(createWebPage(pageDir, createLogger("test", "silent")) as http.RequestListener);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it("says how to build the page when there is none", async () => {
    await serve(join(dir, "missing"), async (url) => {
      const res = await fetch(`${url}/`);
      expect([res.status, await res.text()]).toEqual([404, "the browser page is not built here: run npm run build\n"]);
    });
  });

  it("serves the page's own kinds of files only, read at start", async () => {
    writeFileSync(join(dir, "index.html"), "<!doctype html>");
    writeFileSync(join(dir, "page.js"), "export {};");
    writeFileSync(join(dir, "notes.txt"), "private");
    await serve(dir, async (url) => {
      writeFileSync(join(dir, "later.js"), "export {};");
      expect((await fetch(`${url}/?from=qr`)).status).toBe(200);
      expect((await fetch(`${url}/index.html`)).status).toBe(404);
      expect((await fetch(`${url}/page.js`)).status).toBe(200);
      expect((await fetch(`${url}/notes.txt`)).status).toBe(404);
      expect((await fetch(`${url}/later.js`)).status).toBe(404);
      expect((await fetch(`${url}/../package.json`)).status).toBe(404);
    });
  });
});
