// The real LeanSpec CLI, pinned: `@leanspec/cli-linux-x64@0.3.0` from npm (an
// optionalDependency of e2e with its lock entry, so `npm ci` installs it where
// it runs and skips it elsewhere). LEANSPEC_CLI points at another binary.

import { spawnSync } from "node:child_process";
import { accessSync, chmodSync, constants } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const LEANSPEC_VERSION = "0.3.0";
const PACKAGE = "@leanspec/cli-linux-x64";

/**
 * The CLI's path, or `{ skip }` when this platform cannot run the official
 * linux-x64 binary at all. On linux-x64 a missing or broken binary throws:
 * there it must run (CI is Debian 12 x86_64).
 */
export function leanspecCli() {
  if (!process.env.LEANSPEC_CLI && (process.platform !== "linux" || process.arch !== "x64")) {
    return { skip: `${PACKAGE} ships a linux-x64 binary only; this is ${process.platform}-${process.arch}` };
  }
  let path = process.env.LEANSPEC_CLI;
  if (!path) {
    try {
      path = join(dirname(createRequire(import.meta.url).resolve(`${PACKAGE}/package.json`)), "leanspec");
    } catch {
      throw new Error(`${PACKAGE}@${LEANSPEC_VERSION} is not installed: run \`npm ci\` at the repository root`);
    }
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    // npm may skip the package's postinstall (which only sets this bit).
    chmodSync(path, 0o755);
  }
  const version = spawnSync(path, ["--version"], { encoding: "utf8" });
  if (version.error || version.status !== 0) {
    throw new Error(`${path} does not run: ${version.error?.message ?? version.stderr}`);
  }
  if (version.stdout.trim() !== `lean-spec ${LEANSPEC_VERSION}`) {
    throw new Error(`${path} is ${version.stdout.trim()}, the suite pins ${LEANSPEC_VERSION}`);
  }
  return { path };
}

/** Runs the CLI in `cwd`: `{ status, stdout, stderr }`. */
export function leanspec(cli, cwd, args) {
  const run = spawnSync(cli, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Runs the CLI with `-o json` and parses what it printed; a failure throws. */
export function leanspecJson(cli, cwd, args) {
  const run = leanspec(cli, cwd, [...args, "-o", "json"]);
  if (run.status !== 0) throw new Error(`leanspec ${args.join(" ")}: exit ${run.status}: ${run.stdout}${run.stderr}`);
  return JSON.parse(run.stdout);
}
