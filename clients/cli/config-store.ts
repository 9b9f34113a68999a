import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** What the CLI remembers between commands: the server, the login, and the room you are in. */
export interface CliConfig {
  server?: string;
  token?: string;
  userId?: string;
  displayName?: string;
  room?: { id: string; code: string; name: string };
  /** This machine's device id for `watch` (the server keys sync reports by device). */
  deviceId?: string;
}

/**
 * Where the config lives: GROOVEBOX_CONFIG, else $XDG_CONFIG_HOME/groovebox/config.json, else
 * ~/.config/groovebox/config.json.
 */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.GROOVEBOX_CONFIG) return env.GROOVEBOX_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "groovebox", "config.json");
}

/** The config file: read (empty when there is none yet) and written back whole, readable by its owner only (it holds a token). */
export function createConfigStore(path: string) {
  return {
    path,
    read(): CliConfig {
      try {
        return JSON.parse(readFileSync(path, "utf8")) as CliConfig;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
        throw new Error(`cannot read ${path}: ${(err as Error).message}`);
      }
    },
    write(config: CliConfig): void {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    },
  };
}

export type ConfigStore = ReturnType<typeof createConfigStore>;
