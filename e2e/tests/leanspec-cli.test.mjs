// Conformance with the real LeanSpec CLI (pinned 0.3.0, see e2e/lib/leanspec.mjs).
// Two copies of each LeanSpec project: "ours" is edited through a real hub and a
// real bridge (the REST routes the dashboard uses), "theirs" with `leanspec
// update` / `leanspec archive`, the same edits in the same order. Then the CLI
// judges: it reads back every field we wrote (`list -o json`, `view -o json`),
// both copies give it the same data, our reads of its files give ours, and
// `leanspec board` counts what the dashboard's board shows. The projects are
// examples/sample-project and, when this checkout has it, a copy of the LeanSpec
// repository's own specs in ../shared/corpus/leanspec (304 specs).
// (`leanspec validate` exits 1 on the untouched corpus in 0.3.0: it is no judge.)

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { World, repo, waitFor } from "../lib/harness.mjs";
import { leanspec, leanspecCli, leanspecJson } from "../lib/leanspec.mjs";

const cli = leanspecCli();
const started = Date.now();
if (cli.skip) console.error(`\n!!!!! SKIPPED: the LeanSpec CLI conformance tests cannot run here: ${cli.skip} !!!!!\n`);

const corpus = join(repo, "../shared/corpus/leanspec");
const sources = [{ id: "sample", from: join(repo, "examples/sample-project") }];
if (existsSync(corpus)) sources.push({ id: "corpus", from: corpus });
else console.error("note: ../shared/corpus is absent; the LeanSpec CLI conformance runs on the sample project only");

/** The body after the frontmatter, without the blank lines the CLI drops after `---`. */
const body = (text) => text.slice(text.indexOf("\n---", 3) + 4).replace(/^\n+/, "");

/**
 * The same edits, as our REST call and as the CLI's arguments, on specs picked by role:
 * `open` has unchecked items, `fields` gets priority/tags/assignee, `draft` goes through the
 * draft guard and is archived at the end.
 */
function plan(specs) {
  const open = specs.find((s) => s.task_progress.pending > 0 && s.status !== "draft");
  const rest = specs.filter((s) => s !== open);
  const fields = rest.find((s) => s.tags.length > 0) ?? rest[0];
  const draft = rest.find((s) => s !== fields);
  assert.ok(open && fields && draft, "the project has a spec for every role");
  const n = open.task_progress.pending;
  const tags = [...fields.tags.slice(1), "conformance"];
  const priority = fields.priority === "critical" ? "low" : "critical";
  const steps = [
    // Completing with open items: refused by both, then forced by both.
    ...(open.status === "complete" ? [{ spec: open, changes: { status: "in-progress" }, cli: ["--status", "in-progress"] }] : []),
    { spec: open, changes: { status: "complete" }, cli: ["--status", "complete"], refused: { code: "open_items", n } },
    { spec: open, changes: { status: "complete" }, force: true, cli: ["--status", "complete", "--force"] },
    // Every other field LeanSpec's update sets.
    {
      spec: fields,
      changes: { status: "planned", priority, tags, assignee: "dana" },
      cli: ["--status", "planned", "--priority", priority, "--assignee", "dana", "--add-tags", "conformance", ...(fields.tags[0] ? ["--remove-tags", fields.tags[0]] : [])],
    },
    // Draft straight to in-progress: refused by both, then forced; then archived.
    ...(draft.status === "draft" ? [] : [{ spec: draft, changes: { status: "draft" }, cli: ["--status", "draft"] }]),
    { spec: draft, changes: { status: "in-progress" }, cli: ["--status", "in-progress"], refused: { code: "skips_planned" } },
    { spec: draft, changes: { status: "in-progress" }, force: true, cli: ["--status", "in-progress", "--force"] },
    { spec: draft, archive: true },
  ];
  const expected = {
    [open.name]: { status: "complete", priority: open.priority, tags: open.tags },
    [fields.name]: { status: "planned", priority, tags, assignee: "dana" },
    [draft.name]: { status: "archived", priority: draft.priority, tags: draft.tags },
  };
  return { steps, expected, open, n };
}

describe("the LeanSpec CLI 0.3.0 reads what we write", { skip: cli.skip }, () => {
  let w;

  before(async () => {
    w = await World.start({
      projects: sources.flatMap(({ id, from }) => [
        { name: `${id}-ours`, from },
        { name: `${id}-theirs`, from },
      ]),
    });
  });

  after(async () => {
    if (process.exitCode) console.error(w?.logs());
    await w?.stop();
  });

  for (const { id } of sources) {
    test(`${id}: the same edits through the hub and through leanspec update give the CLI the same data`, async () => {
      const [ours, theirs] = [`${id}-ours`, `${id}-theirs`];
      const [oursDir, theirsDir] = [w.dirs[ours], w.dirs[theirs]];
      // 0. The completion guard counts open items as LeanSpec does, on every spec (fenced
      // `- [ ]` lines included): both refuse with the same count, or both complete it.
      let refusals = 0;
      for (const s of await w.api(`/api/projects/${ours}/specs`)) {
        if (s.status === "draft") continue;
        const url = `/api/projects/${ours}/specs/${s.name}/frontmatter`;
        const mine = await w.call(url, { method: "PATCH", json: { changes: { status: "complete" } } });
        const run = leanspec(cli.path, theirsDir, ["update", s.name, "--status", "complete"]);
        const counted = /spec has (\d+) outstanding checklist item/.exec(run.stdout)?.[1];
        assert.equal(mine.status === 200, run.status === 0, `${s.name}: ${JSON.stringify(mine.body)} / ${run.stdout}`);
        if (mine.status !== 200) {
          assert.equal(mine.body.error.code, "open_items", s.name);
          assert.equal(mine.body.error.details.open_items, Number(counted), `${s.name}: LeanSpec's count`);
          refusals++;
        }
      }
      const specs = await w.api(`/api/projects/${ours}/specs`);
      const { steps, expected, open, n } = plan(specs);
      const originals = Object.fromEntries(Object.keys(expected).map((name) => [name, w.read(`specs/${name}/README.md`, oursDir)]));

      for (const step of steps) {
        const name = step.spec.name;
        const rel = `specs/${name}/README.md`;
        const [mineBefore, theirsBefore] = [w.read(rel, oursDir), w.read(rel, theirsDir)];
        const url = `/api/projects/${ours}/specs/${name}`;
        const mine = step.archive
          ? await w.call(`${url}/archive`, { method: "POST", json: {} })
          : await w.call(`${url}/frontmatter`, { method: "PATCH", json: { changes: step.changes, force: step.force } });
        const cliRun = leanspec(cli.path, theirsDir, step.archive ? ["archive", name] : ["update", name, ...step.cli]);
        const what = `${name} ${JSON.stringify(step.changes ?? "archive")}${step.force ? " forced" : ""}`;
        if (step.refused) {
          assert.equal(mine.status, 409, `${what}: ${JSON.stringify(mine.body)}`);
          assert.equal(mine.body.error.code, step.refused.code, what);
          assert.equal(cliRun.status, 1, `the CLI refuses too: ${cliRun.stdout}`);
          if (step.refused.code === "open_items") {
            const counted = Number(/spec has (\d+) outstanding checklist item/.exec(cliRun.stdout)?.[1]);
            assert.equal(mine.body.error.details.open_items, counted, "the same count as LeanSpec");
            assert.equal(counted, step.refused.n);
          } else {
            assert.match(cliRun.stdout, /Cannot skip 'planned' stage from draft/);
          }
          assert.equal(w.read(rel, oursDir), mineBefore, "nothing written by us");
          assert.equal(w.read(rel, theirsDir), theirsBefore, "nothing written by the CLI");
        } else {
          assert.equal(mine.status, 200, `${what}: ${JSON.stringify(mine.body)}`);
          assert.equal(mine.body.state, "applied");
          assert.equal(cliRun.status, 0, `${what}: ${cliRun.stdout}${cliRun.stderr}`);
        }
      }

      // 1. The CLI reads back every field we wrote.
      const listed = leanspecJson(cli.path, oursDir, ["list"]);
      for (const [name, want] of Object.entries(expected)) {
        const view = leanspecJson(cli.path, oursDir, ["view", name]);
        const fields = Object.fromEntries(Object.entries(view.fields).map(([k, v]) => [k, v.value]));
        assert.equal(fields.status, want.status, `${name}: view status`);
        assert.equal(fields.priority, want.priority, `${name}: view priority`);
        assert.deepEqual(fields.tags ?? [], want.tags, `${name}: view tags`);
        if (want.assignee) assert.equal(fields.assignee, want.assignee, `${name}: view assignee`);
        const entry = listed.find((s) => s.id === name);
        if (want.status === "archived") assert.equal(entry, undefined, `${name}: list leaves archived specs out`);
        else assert.deepEqual([entry.status, entry.priority, entry.tags, entry.assignee], [want.status, want.priority, want.tags, want.assignee ?? null]);
        // Our edits keep the body byte for byte; the CLI sees the same text.
        const text = w.read(`specs/${name}/README.md`, oursDir);
        assert.equal(body(text), body(originals[name]), `${name}: body kept`);
        assert.equal(fields.content.replace(/^\n+/, ""), body(text), `${name}: the CLI reads our body`);
      }

      // 2. leanspec update and our edit of the same fields give the CLI the same data.
      assert.deepEqual(listed, leanspecJson(cli.path, theirsDir, ["list"]), "list -o json of both copies");
      for (const name of Object.keys(expected)) {
        const view = (dir) => {
          const v = leanspecJson(cli.path, dir, ["view", name]);
          v.fields.content.value = v.fields.content.value.replace(/^\n+/, "");
          return editTimes(v);
        };
        assert.deepEqual(view(oursDir), view(theirsDir), `view -o json of ${name}`);
        // The keys LeanSpec maintains (updated_at, completed_at, transitions) as we read them back.
        const read = async (project) => {
          const { hash, content, path, body: text, ...data } = await w.api(`/api/projects/${project}/specs/${name}`);
          return editTimes({ ...data, body: text.replace(/^\n+/, "") });
        };
        assert.deepEqual(await read(ours), await read(theirs), `the frontmatter data of ${name}`);
      }
      // ...and we read the CLI's files as our own.
      const ourRead = async (project) => {
        const all = [...(await w.api(`/api/projects/${project}/specs`)), ...(await w.api(`/api/projects/${project}/archive/specs`))];
        return Object.fromEntries(all.map((s) => [s.name, [s.status, s.priority, s.tags, s.depends_on, s.task_progress]]));
      };
      assert.deepEqual(await ourRead(theirs), await ourRead(ours), "our parse of the CLI's files");

      // 3. The dashboard's board counts agree with `leanspec board`.
      const board = leanspecJson(cli.path, oursDir, ["board"]);
      const boardCounts = Object.fromEntries(board.groups.map((g) => [g.name, g.count]));
      assert.deepEqual(boardCounts, Object.fromEntries(leanspecJson(cli.path, theirsDir, ["board"]).groups.map((g) => [g.name, g.count])));
      const dashboardCounts = async () => {
        const model = await w.api(`/v1/machines/${encodeURIComponent(w.machineId)}/projects/${ours}/model`);
        const counts = {};
        for (const s of model.specs) if (s.status !== "archived") counts[s.status] = (counts[s.status] ?? 0) + 1;
        return counts;
      };
      const sameCounts = async () => JSON.stringify(sortKeys(await dashboardCounts())) === JSON.stringify(sortKeys(boardCounts));
      // The hub's copy follows the files within moments; the assertion below shows any difference.
      await waitFor(sameCounts, "the hub's board to show the edits").catch(() => {});
      assert.deepEqual(sortKeys(await dashboardCounts()), sortKeys(boardCounts), "board counts");
      assert.equal(board.total, Object.values(boardCounts).reduce((a, b) => a + b, 0));
      console.log(
        `${id}: ${specs.length} specs, guard refused ${refusals} as LeanSpec did, ${steps.length} edits (${open.name}: ${n} open items), board ${JSON.stringify(boardCounts)}`,
      );
    });
  }
});

/**
 * Timestamps written by this run's edits, replaced by a marker: ours and the CLI's differ by
 * milliseconds (and precision: we write milliseconds, the CLI nanoseconds), never by meaning.
 */
function editTimes(value, since = started) {
  if (typeof value === "string") {
    const t = Date.parse(value);
    return /^\d{4}-\d\d-\d\dT/.test(value) && t >= since - 1000 && t <= Date.now() + 1000 ? "<this run>" : value;
  }
  if (Array.isArray(value)) return value.map((v) => editTimes(v, since));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, editTimes(v, since)]));
  return value;
}

function sortKeys(obj) {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => a.localeCompare(b)));
}

