// Markdown to HTML for spec documents. Raw HTML in a document is shown as
// text, never interpreted; the hub's Content-Security-Policy is the second fence.

import { Marked } from "marked";

const escape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const marked = new Marked({
  gfm: true,
  renderer: {
    html: ({ text }) => escape(text),
  },
});

/** Splits `---` frontmatter from the body. */
export function splitFrontmatter(text: string): { frontmatter: string | null; body: string } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!m) return { frontmatter: null, body: text };
  return { frontmatter: m[1], body: text.slice(m[0].length) };
}

/** Renders markdown into a new element. */
export function renderMarkdown(text: string): HTMLElement {
  const el = document.createElement("div");
  el.className = "markdown";
  el.innerHTML = marked.parse(text, { async: false }) as string;
  for (const a of el.querySelectorAll("a")) a.setAttribute("rel", "noopener noreferrer");
  return el;
}
