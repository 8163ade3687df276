// A job's output as a terminal: xterm.js (@xterm/xterm, ANSI colours,
// cursor moves, progress bars) sized to its box by the fit addon. It shows
// one run at a time; a gap (output this page missed while it fell behind)
// is written as a visible marker, never silently.

import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { h } from "./dom";
import type { OutputChunk } from "./api";

/** What a terminal reports when a piece of output is on screen (benchmarks listen). */
export interface Written {
  run: string;
  data: string;
  /** performance.timeOrigin + performance.now() when xterm had parsed it. */
  at: number;
}

const utf8 = new TextEncoder();

/** Offsets are bytes of UTF-8, as the hub counts them. */
function bytes(text: string): number {
  return utf8.encode(text).length;
}

export class JobTerminal {
  readonly el: HTMLElement;
  private term: Terminal;
  private fit = new FitAddon();
  private opened = false;
  private resize: ResizeObserver | null = null;
  /** The run shown, and the next offset expected from it. */
  run: string | null = null;
  private next = 0;

  constructor(label: string) {
    this.el = h("div", { class: "terminal", "data-testid": "terminal", role: "log", "aria-label": label });
    this.term = new Terminal({
      convertEol: true,
      disableStdin: true,
      cursorBlink: false,
      rows: 14,
      scrollback: 5000,
      fontSize: 12,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      theme: { background: "#11151c", foreground: "#d8dee9" },
    });
    this.term.loadAddon(this.fit);
  }

  /** Opens the terminal once its box is in the page (xterm measures it). */
  attach(): void {
    if (this.opened || !this.el.isConnected) return;
    this.opened = true;
    this.term.open(this.el);
    this.fitNow();
    this.resize = new ResizeObserver(() => this.fitNow());
    this.resize.observe(this.el);
  }

  private fitNow(): void {
    try {
      this.fit.fit();
    } catch {
      // Not laid out yet (a hidden box): the next resize fits it.
    }
  }

  /** Shows `run` from its start (clears what another run left). */
  show(run: string, preface?: string): void {
    if (this.run === run) return;
    this.run = run;
    this.next = 0;
    this.term.reset();
    if (preface) this.term.write(preface);
  }

  /** Writes a chunk of the run shown; chunks of other runs are ignored. */
  write(chunk: OutputChunk): void {
    const size = bytes(chunk.data);
    if (chunk.run !== this.run || chunk.offset + size <= this.next) return;
    this.attach();
    if (chunk.gap > 0 && this.next > 0) {
      this.term.write(`\r\n\x1b[33m[… ${chunk.gap} bytes not shown: this page fell behind …]\x1b[0m\r\n`);
    } else if (chunk.gap > 0) {
      this.term.write(`\x1b[33m[… the first ${chunk.gap} bytes are no longer kept …]\x1b[0m\r\n`);
    }
    this.next = chunk.offset + size;
    const run = chunk.run;
    this.term.write(chunk.data, () => {
      const detail: Written = { run, data: chunk.data, at: performance.timeOrigin + performance.now() };
      this.el.dispatchEvent(new CustomEvent("written", { detail }));
    });
  }

  /** A line of the page's own (not the job's), dimmed. */
  note(text: string): void {
    this.attach();
    this.term.write(`\r\n\x1b[2m${text}\x1b[0m\r\n`);
  }

  dispose(): void {
    this.resize?.disconnect();
    this.term.dispose();
  }
}
