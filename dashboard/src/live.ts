// The /ws/dashboard connection: holds the machines and the queue from the
// full state, applies deltas, reconnects with backoff, and tells listeners.
// Its state drives the connection indicator.

import type { CommandView, MachineView, OutputChunk, RunView } from "./api";

export type LinkState = "connecting" | "live" | "down";

export type LiveEvent =
  | { type: "state" }
  | { type: "machine"; machine: MachineView }
  | { type: "file_changed"; machine: string; project: string; paths: string[] }
  | { type: "command_result"; result: CommandView }
  | { type: "queue" }
  | { type: "link"; state: LinkState }
  | { type: "unauthorized" }
  | { type: "watching_jobs"; machine: string }
  | { type: "job_run"; run: RunView }
  | { type: "job_output"; machine: string; chunks: OutputChunk[] };

type Incoming =
  | { type: "state"; machines: MachineView[]; queue: CommandView[] }
  | { type: "machine"; machine: MachineView }
  | { type: "file_changed"; machine: string; project: string; paths: string[] }
  | { type: "command_result"; result: CommandView }
  | { type: "queue"; items: CommandView[] }
  | { type: "watching_jobs"; machine: string }
  | { type: "job_run"; run: RunView }
  | { type: "job_output"; machine: string; chunks: OutputChunk[] };

export class Live {
  machines: MachineView[] = [];
  queue: CommandView[] = [];
  state: LinkState = "connecting";
  private socket: WebSocket | null = null;
  private retry = 0;
  private timer: number | undefined;
  private stopped = false;
  private listeners = new Set<(event: LiveEvent) => void>();
  /** The machine whose job runs this page follows (sent again on every reconnect). */
  private jobsOf: string | null = null;

  on(listener: (event: LiveEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  machine(id: string): MachineView | undefined {
    return this.machines.find((m) => m.id === id || m.name === id);
  }

  /** Follows one machine's job runs and output (`null`: none). A new watch
   * starts from the runs' output so far; listeners get `watching_jobs` first. */
  watchJobs(machine: string | null): void {
    this.jobsOf = machine;
    this.sendWatch();
  }

  private sendWatch(): void {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "watch_jobs", machine: this.jobsOf }));
    }
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }

  private emit(event: LiveEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private setState(state: LinkState): void {
    this.state = state;
    this.emit({ type: "link", state });
  }

  private connect(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/dashboard`);
    this.socket = socket;
    this.setState("connecting");
    let opened = false;
    socket.onopen = () => {
      opened = true;
      if (this.jobsOf) this.sendWatch();
    };
    socket.onmessage = (msg) => {
      if (typeof msg.data !== "string") return;
      const data = JSON.parse(msg.data) as Incoming;
      this.apply(data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      this.setState("down");
      if (!opened) {
        // A refused upgrade is most often an expired session: check before retrying.
        fetch("/v1/session", { credentials: "same-origin" })
          .then((res) => {
            if (res.status === 401) this.emit({ type: "unauthorized" });
            else this.schedule();
          })
          .catch(() => this.schedule());
        return;
      }
      this.schedule();
    };
  }

  /** Exponential backoff with full jitter: first retry under a second, cap 15 s. */
  private schedule(): void {
    const cap = Math.min(15000, 500 * 2 ** this.retry);
    this.retry += 1;
    this.timer = window.setTimeout(() => this.connect(), Math.random() * cap);
  }

  /** Reconnects at once (the indicator's "retry now"). */
  retryNow(): void {
    if (this.socket) return;
    clearTimeout(this.timer);
    this.connect();
  }

  private apply(data: Incoming): void {
    switch (data.type) {
      case "state":
        this.retry = 0;
        this.machines = data.machines;
        this.queue = data.queue;
        this.setState("live");
        this.emit({ type: "state" });
        break;
      case "machine": {
        const i = this.machines.findIndex((m) => m.id === data.machine.id);
        if (i >= 0) this.machines[i] = data.machine;
        else this.machines.push(data.machine);
        this.emit(data);
        break;
      }
      case "queue":
        this.queue = data.items;
        this.emit({ type: "queue" });
        break;
      default:
        this.emit(data);
    }
  }
}
