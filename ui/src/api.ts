// Typed wrappers over the app's Tauri commands (src-tauri/src/commands.rs, forwarded to the tray process).
// Every command rejects with an AppError, never a bare string.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

export type TrayState = "synced" | "syncing" | "offline" | "attention" | "paused" | "signed-out";
export type Layout = "leanspec" | "spec-workflow" | "spec-context" | "generic";
export type VaultChoice = "keychain" | "file" | "env";
export type LinkState =
  | { state: "connecting" }
  | { state: "connected" }
  | { state: "offline"; retry_in_ms: number }
  | { state: "unauthorized" }
  | { state: "stopped" };

/** Stable error codes (crates/tray-host/src/error.rs `AppError::code`, carried through the local socket). */
export type ErrorCode =
  | "config" | "keychain_unavailable" | "vault" | "engine" | "state" | "embedded_hub" | "hub_unreachable"
  | "hub_refused" | "invalid_hub_url" | "not_paired" | "invalid_name" | "name_taken" | "no_pairing"
  | "unknown_project" | "desktop" | "consent_gone" | "internal";

export interface AppError {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: { suggestion?: string; hub_code?: string };
}

export interface ProjectView {
  id: string; name: string; path: string; layout: Layout; files: number; read_only: boolean; paused: boolean;
}
export interface PairingView {
  hub_url: string; user_code: string; verification_url: string; expires_at_ms: number;
  state: { state: "waiting" } | { state: "approved" } | { state: "expired" } | { state: "failed"; message: string };
}
export interface ActivityEntry {
  at_ms: number; kind: "sync" | "command" | "conflict" | "link" | "error"; project: string | null; text: string;
}
export interface Snapshot {
  state: TrayState;
  status_line: string;
  onboarded: boolean;
  hub: { url: string; embedded: boolean; label: string } | null;
  signed_in: boolean;
  machine: { id: string; name: string; suggested_name: string };
  vault: VaultChoice;
  link: LinkState | null;
  queue_depth: number;
  last_error: string | null;
  problem: string | null;
  paused_all: boolean;
  projects: ProjectView[];
  pairing: PairingView | null;
  activity: ActivityEntry[];
  unseen_conflicts: number;
  /** A newer signed release the hub offers, found by the last check. */
  update: string | null;
  /** This app's version. */
  version: string;
}
export interface FolderInfo { path: string; layout: Layout }

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** A job run waiting for this computer's owner (src-tauri/src/consent.rs). */
export interface ConsentRequest {
  id: string;
  job: string;
  name: string;
  project: string;
  /** The exact argv that would run, parameters filled in. */
  argv: string[];
  params: Record<string, string>;
  requested_by: string | null;
  asked_ms: number;
  expires_ms: number;
}
export type ConsentAnswer = "allow_once" | "always_allow" | "deny";

export const api = {
  snapshot: () => invoke<Snapshot>("get_snapshot"),
  useThisComputer: () => invoke<Snapshot>("use_this_computer"),
  pairStart: (hubUrl: string) => invoke<Snapshot>("pair_start", { hubUrl }),
  pairCancel: () => invoke<Snapshot>("pair_cancel"),
  pairWithToken: (hubUrl: string, token: string) => invoke<Snapshot>("pair_with_token", { hubUrl, token }),
  unpair: () => invoke<{ warning: string | null; snapshot: Snapshot }>("unpair"),
  setVault: (vault: VaultChoice) => invoke<Snapshot>("set_vault", { vault }),
  renameMachine: (name: string) => invoke<Snapshot>("rename_machine", { name }),
  pickFolder: () => invoke<FolderInfo | null>("pick_folder"),
  inspectFolder: (path: string) => invoke<FolderInfo>("inspect_folder", { path }),
  addProject: (path: string, readOnly: boolean) => invoke<Snapshot>("add_project", { path, readOnly }),
  removeProject: (id: string) => invoke<Snapshot>("remove_project", { id }),
  setReadOnly: (id: string, readOnly: boolean) => invoke<Snapshot>("set_read_only", { id, readOnly }),
  setProjectPaused: (id: string, paused: boolean) => invoke<Snapshot>("set_project_paused", { id, paused }),
  setPausedAll: (paused: boolean) => invoke<Snapshot>("set_paused_all", { paused }),
  retryNow: () => invoke<Snapshot>("retry_now"),
  finishOnboarding: () => invoke<Snapshot>("finish_onboarding"),
  markActivitySeen: () => invoke<Snapshot>("mark_activity_seen"),
  openDashboard: () => invoke<void>("open_dashboard"),
  openFolder: (id: string) => invoke<void>("open_folder", { id }),
  getAutostart: () => invoke<boolean>("get_autostart"),
  setAutostart: (enabled: boolean) => invoke<boolean>("set_autostart", { enabled }),
  checkUpdate: () => invoke<string | null>("check_update"),
  installUpdate: () => invoke<void>("install_update"),
  onSnapshot: (f: (s: Snapshot) => void): Promise<UnlistenFn> => listen<Snapshot>("snapshot", (e) => f(e.payload)),
  consentPending: () => invoke<ConsentRequest[]>("consent_pending"),
  consentAnswer: (id: string, answer: ConsentAnswer) => invoke<ConsentRequest[]>("consent_answer", { id, answer }),
  onConsent: (f: (pending: ConsentRequest[]) => void): Promise<UnlistenFn> =>
    listen<ConsentRequest[]>("consent", (e) => f(e.payload)),
};
