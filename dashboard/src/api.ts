// Typed calls to the hub's dashboard routes (docs/protocol.md, "Dashboard").
// The browser session cookie rides along on every same-origin request.

export interface ProjectRow {
  id: string;
  name: string;
  layout: string;
  read_only: boolean;
  files: number;
}

export interface MachineView {
  id: string;
  name: string;
  os: string;
  arch: string;
  version: string;
  last_seen_ms: number;
  online: boolean;
  projects: ProjectRow[];
}

/** A recorded command (an edit, a job) as the hub keeps it: `GET /v1/commands/{id}`, the queue, results. */
export interface CommandView {
  id: string;
  machine: string;
  project: string;
  name: string;
  summary: string;
  target: string;
  state: "queued" | "sent" | "applied" | "failed" | "expired" | "cancelled";
  attempts: number;
  created_ms: number;
  expires_ms: number;
  /** The caller was told "queued": its result arrives later. */
  deferred: boolean;
  sent_ms: number | null;
  finished_ms: number | null;
  result?: { path?: string; hash?: string; size?: number } & Record<string, unknown>;
  error?: ErrorBody;
}

export interface ErrorBody {
  code: string;
  message: string;
  hint?: string;
  details?: {
    current_hash?: string | null;
    current_content?: { encoding: string; data: string };
    /** `open_items`: how many `- [ ]` items LeanSpec counts in the spec. */
    open_items?: number;
    /** `skips_planned`: the status asked for, straight from `draft`. */
    to?: string;
  };
}

export interface FileRow {
  path: string;
  hash: string;
  size: number;
  mtime_ms: number;
}

export interface TaskProgress {
  total: number;
  pending: number;
  inProgress: number;
  done: number;
  blocked: number;
}

export interface Task {
  id: string;
  title: string;
  status: "pending" | "in-progress" | "done" | "blocked";
  indent: number;
  requirements: string[];
  /** spec-workflow's `_Blocked: <reason>_` line under the task. */
  blockedReason: string | null;
}

export interface SpecView {
  path: string;
  hash: string;
  name: string;
  number: number | null;
  title: string | null;
  status: string | null;
  priority: string | null;
  tags: string[];
  assignee: string | null;
  checklist: TaskProgress;
  warnings: string[];
}

/** The status spec-workflow's own `spec-status` tool derives for a spec. */
export type WorkflowStatus =
  | "requirements-needed"
  | "design-needed"
  | "tasks-needed"
  | "implementing"
  | "completed"
  | "ready-for-implementation";

export interface WorkflowSpec {
  name: string;
  displayName: string;
  documents: { name: string; path: string }[];
  taskProgress: TaskProgress | null;
  status: WorkflowStatus;
}

export interface Approval {
  id: string;
  title: string;
  filePath: string;
  type: string;
  status: string;
  createdAt: string;
  response?: string | null;
  comments?: { comment: string; type: string }[];
}

export interface WorkflowProject {
  root: string;
  specs: WorkflowSpec[];
  archivedSpecs: WorkflowSpec[];
  steering: { name: string; path: string; exists: boolean }[];
  /** The approvals spec-workflow reads: the ones to count and decide. */
  approvals: { path: string; approval: Approval }[];
  /** Legacy nested approvals (`approvals/<spec>/<document>/`): spec-workflow 2.x never reads them. */
  legacyApprovals: { path: string; approval: Approval }[];
  problems: { path: string; message: string }[];
}

export interface ProjectModel {
  machine: MachineView;
  project: ProjectRow;
  specs: SpecView[];
  workflow: WorkflowProject | null;
  files: FileRow[];
  problems: string[];
}

export interface FileContent {
  path: string;
  hash: string;
  mtime_ms: number;
  content: string;
}

/** A typed parameter of a pinned job (docs/protocol.md, "Jobs"). */
export type JobParam = { kind: "spec" } | { kind: "choice"; choices: string[] } | { kind: "integer"; min: number; max: number };

/** One run as the machine recorded it (`job-run`'s result, `job-history`). */
export interface RunRecord {
  id: string;
  run_id: string;
  command_id: string;
  started_ms: number;
  duration_ms: number;
  outcome: "succeeded" | "failed" | "timed_out" | "cancelled" | "error" | "denied" | "unconfirmed";
  exit_code: number | null;
  argv: string[];
  params: Record<string, string>;
  requested_by: string | null;
  consent: string;
  output?: string;
}

/** A job pinned on the machine. */
export interface JobView {
  id: string;
  name: string;
  project: string;
  argv: string[];
  params: Record<string, JobParam>;
  enabled: boolean;
  unattended: boolean;
  state: "idle" | "waiting" | "running";
  live: { command_id: string; started_ms: number; argv: string[]; requested_by: string | null; output: string } | null;
  last_run: RunRecord | null;
  warnings: string[];
}

/** A job proposed from the hub, waiting for the owner's approval on the machine. */
export interface Proposal {
  id: string;
  job: string;
  kind: "create" | "update";
  project: string;
  name: string;
  argv: string[];
  params: Record<string, JobParam>;
  requested_by: string | null;
  created_ms: number;
}

export interface JobStats {
  id: string;
  runs: number;
  succeeded: number;
  failed: number;
  timed_out: number;
  cancelled: number;
  errors: number;
  refused: number;
  average_duration_ms: number;
  last_exit_code: number | null;
}

/** One job line of the machine's audit log. */
export interface JobAuditEntry {
  ts_ms: number;
  request_id: string;
  project: string;
  command: string;
  outcome: string;
  job: {
    id: string;
    origin: "hub" | "machine";
    requested_by?: string;
    argv?: string[];
    params?: Record<string, string>;
    consent?: string;
    outcome?: string;
    exit_code?: number;
    duration_ms?: number;
    note?: string;
  };
}

/** A live run as `/ws/dashboard` shows it (`job_run`). */
export interface RunView {
  command: string;
  machine: string;
  project: string;
  job: string;
  params: Record<string, string>;
  requested_by: string | null;
  state: "sent" | "waiting" | "running" | "finished" | "lost";
  created_ms: number;
  until_ms: number | null;
  finished_ms: number | null;
  result: RunRecord | null;
  error: ErrorBody | null;
  bytes: number;
}

/** A piece of a run's output (`job_output`): `gap` bytes this page missed come before it. */
export interface OutputChunk {
  run: string;
  job: string;
  project: string;
  offset: number;
  gap: number;
  data: string;
}

/** A failed call: the hub's error body and the HTTP status. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.message);
  }
}

/** What a write answered: the command, applied (with its result) or queued for an offline machine. */
export type WriteAnswer = CommandView & { state: "applied" | "queued" };

/** 128 random bits as hex. `crypto.randomUUID` exists only in secure contexts,
 * and a phone on the LAN may open the dashboard over plain http. */
function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const init: RequestInit = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  // Every edit carries its own key: if the network drops the answer, the one
  // retry below is the same command at the hub and is applied at most once.
  const edit = method !== "GET" && method !== "DELETE";
  if (edit) headers["Idempotency-Key"] = randomKey();
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    if (!edit) throw err;
    res = await fetch(url, init);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const error = (json as { error?: ErrorBody } | null)?.error ?? { code: "internal", message: `HTTP ${res.status}` };
    throw new ApiFailure(res.status, error);
  }
  return json as T;
}

const enc = encodeURIComponent;
const encPath = (path: string) => path.split("/").map(enc).join("/");
const base = (m: string, p: string) => `/v1/machines/${enc(m)}/projects/${enc(p)}`;

export const api = {
  session: () => call<{ account: string }>("GET", "/v1/session"),
  login: (token: string) => call<{ account: string }>("POST", "/v1/session", { token }),
  logout: () => call<void>("DELETE", "/v1/session"),
  machines: () => call<MachineView[]>("GET", "/v1/dashboard/machines"),
  model: (m: string, p: string) => call<ProjectModel>("GET", `${base(m, p)}/model`),
  content: (m: string, p: string, path: string) => call<FileContent>("GET", `${base(m, p)}/content/${encPath(path)}`),
  writeDocument: (m: string, p: string, path: string, content: string, baseHash: string | null, queue: boolean) =>
    call<WriteAnswer>("PUT", `${base(m, p)}/documents/${encPath(path)}`, { content, base_hash: baseHash, queue }),
  /** `force` skips LeanSpec's status guard (`open_items`, `skips_planned`), as `leanspec update --force`. */
  setFrontmatter: (m: string, p: string, spec: string, changes: Record<string, unknown>, baseHash: string | null, queue: boolean, force = false) =>
    call<WriteAnswer>("PATCH", `${base(m, p)}/specs/${enc(spec)}/frontmatter`, { changes, base_hash: baseHash, queue, force: force || undefined }),
  /** `reason` is written as spec-workflow's `_Blocked: <reason>_` line (blocked only). */
  setTask: (m: string, p: string, spec: string, task: string, status: string, baseHash: string | null, queue: boolean, reason?: string) =>
    call<WriteAnswer>("PUT", `${base(m, p)}/specs/${enc(spec)}/tasks/${enc(task)}/status`, { status, reason: reason || undefined, base_hash: baseHash, queue }),
  /** spec-workflow's rules: a revision request carries the comment; approve and reject carry it as the response. */
  answerApproval: (m: string, p: string, id: string, action: string, comment: string, queue: boolean) => {
    const text = comment.trim();
    const body =
      action === "needs-revision"
        ? { comments: text ? [{ type: "general", comment: text }] : [], queue }
        : { response: text || undefined, queue };
    return call<WriteAnswer>("POST", `${base(m, p)}/approvals/${enc(id)}/${enc(action)}`, body);
  },
  tasks: (m: string, p: string, spec: string) =>
    call<{ path: string; hash: string; tasks: Task[] }>("GET", `${base(m, p)}/model/specs/${enc(spec)}/tasks`),
  jobs: (m: string, p: string) => call<{ jobs: JobView[]; proposals: Proposal[] }>("GET", `${base(m, p)}/jobs`),
  /** Starts a run and answers at once (`detach`); the run is followed on /ws/dashboard. */
  runJob: (m: string, p: string, id: string, params: Record<string, string>) =>
    call<{ id: string; state: string }>("POST", `${base(m, p)}/jobs/${enc(id)}/run?detach=1&timeout_ms=600000`, { params }),
  cancelJob: (m: string, p: string, id: string) => call<CommandView>("POST", `${base(m, p)}/jobs/${enc(id)}/cancel`),
  jobHistory: (m: string, p: string, id: string) => call<RunRecord[]>("GET", `${base(m, p)}/jobs/${enc(id)}/history`),
  jobStats: (m: string, p: string, id: string) => call<JobStats>("GET", `${base(m, p)}/jobs/${enc(id)}/stats`),
  jobAudit: (m: string, p: string, id: string) => call<JobAuditEntry[]>("GET", `${base(m, p)}/jobs/${enc(id)}/audit`),
  queue: () => call<CommandView[]>("GET", "/v1/queue"),
  cancelQueued: (id: string) => call<CommandView>("DELETE", `/v1/commands/${enc(id)}`),
};
