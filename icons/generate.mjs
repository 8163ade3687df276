// Builds every icon from one source image, icons/source.svg:
//  - the app icons each platform needs (PNG sizes for Linux, icon.ico for
//    Windows, icon.icns for macOS, Square*Logo.png for the Windows Store
//    tiles), rendered by `tauri icon` from the npm @tauri-apps/cli;
//  - the six tray-state icons: the source image with its plate recoloured
//    (blue while the app works, grey while it does not) and a state badge in
//    the corner, so the state reads by shape as well as by colour.
// Run `npm run icons` after changing the source; the outputs are committed
// (the app embeds icons/tray/*.png at compile time).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const source = join(here, "source.svg");
const svg = readFileSync(source, "utf8");
const PLATE = 'fill="#2563eb"';
if (!svg.includes(PLATE)) throw new Error(`icons/source.svg: the plate must be drawn with ${PLATE}`);

const tauri = (...args) =>
  execFileSync(process.execPath, [join(root, "node_modules/@tauri-apps/cli/tauri.js"), "icon", ...args], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
  });

// 1. Platform app icons. Mobile folders are dropped: this is a desktop app.
tauri(source, "--output", here);
for (const mobile of ["android", "ios"]) rmSync(join(here, mobile), { recursive: true, force: true });

// 2. Tray-state icons. The badge sits on a white ring over the plate's corner.
const WORKING = "#2563eb";
const IDLE = "#7a7f87";
const stroke = (d, w = 58) =>
  `<path d="${d}" fill="none" stroke="#fff" stroke-width="${w}" stroke-linecap="round" stroke-linejoin="round"/>`;
const states = {
  synced: { plate: WORKING, badge: "#2e9e5b", glyph: stroke("M688 782L752 846L872 716") },
  syncing: {
    plate: WORKING,
    badge: "#0e8fc7",
    glyph: stroke("M778 668A110 110 0 1 1 668 778", 50) + '<path d="M778 618L838 668L778 718Z" fill="#fff"/>',
  },
  offline: { plate: IDLE, badge: "#5b6573", glyph: stroke("M713 713L843 843M843 713L713 843") },
  attention: {
    plate: WORKING,
    badge: "#e28c12",
    glyph: stroke("M778 680V800") + '<circle cx="778" cy="870" r="34" fill="#fff"/>',
  },
  paused: { plate: IDLE, badge: "#5b6573", glyph: stroke("M738 703V853M818 703V853", 54) },
  "signed-out": { plate: IDLE, badge: "#8c9198", glyph: stroke("M703 778H853") },
};
const work = mkdtempSync(join(tmpdir(), "specbridge-icons-"));
try {
  mkdirSync(join(here, "tray"), { recursive: true });
  for (const [name, s] of Object.entries(states)) {
    const badge = `<circle cx="778" cy="778" r="246" fill="#fff"/><circle cx="778" cy="778" r="205" fill="${s.badge}"/>${s.glyph}`;
    const state = svg.replace(PLATE, `fill="${s.plate}"`).replace("</svg>", `${badge}</svg>`);
    const file = join(work, `${name}.svg`);
    writeFileSync(file, state);
    tauri(file, "--png", "64", "--output", join(work, name));
    copyFileSync(join(work, name, "64x64.png"), join(here, "tray", `${name}.png`));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log("icons written from icons/source.svg");
