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

/** Whether a link or image target may stay: http, https, mailto, or relative
 * (no scheme). `javascript:`, `data:`, `vbscript:` and the rest are dropped;
 * the CSP would stop most of them, but a link must not rely on that. */
export function safeUrl(url: string): boolean {
  // Browsers ignore tabs, newlines and leading control characters in a scheme.
  const squeezed = url.replace(/[\u0000-\u0020\u007f]+/g, "");
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(squeezed);
  return !scheme || ["http", "https", "mailto"].includes(scheme[1].toLowerCase());
}

/** Renders markdown into a new element. */
export function renderMarkdown(text: string): HTMLElement {
  const el = document.createElement("div");
  el.className = "markdown";
  el.innerHTML = marked.parse(text, { async: false }) as string;
  for (const a of el.querySelectorAll("a")) {
    const href = a.getAttribute("href");
    if (href !== null && !safeUrl(href)) a.removeAttribute("href");
    a.setAttribute("rel", "noopener noreferrer");
  }
  for (const img of el.querySelectorAll("img")) {
    const src = img.getAttribute("src");
    if (src !== null && !safeUrl(src)) img.removeAttribute("src");
  }
  return el;
}
