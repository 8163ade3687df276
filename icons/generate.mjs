// Draws the app icon and the six tray-state icons as PNGs (no dependencies:
// shapes are signed-distance predicates, 4x4 supersampled, written with zlib).
// Run `node icons/generate.mjs` after changing a shape; the PNGs are committed.
import { deflateSync } from "node:zlib";
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// Shapes in a unit square (0..1), y down. Each returns true when (x, y) is inside.
const circle = (cx, cy, r) => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
const ring = (cx, cy, r, w) => (x, y) => Math.abs(Math.hypot(x - cx, y - cy) - r) <= w / 2;
const segment = (ax, ay, bx, by, w) => (x, y) => {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - (ax + t * dx), y - (ay + t * dy)) <= w / 2;
};
// An arc of a ring from angle a0 to a1 (radians, clockwise from +x since y is down).
const arc = (cx, cy, r, w, a0, a1) => (x, y) => {
  if (Math.abs(Math.hypot(x - cx, y - cy) - r) > w / 2) return false;
  let a = Math.atan2(y - cy, x - cx);
  while (a < a0) a += 2 * Math.PI;
  return a <= a1;
};
const triangle = (pts) => (x, y) => {
  const s = (p, q) => (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0]);
  const [a, b, c] = pts;
  const d1 = s(a, b), d2 = s(b, c), d3 = s(c, a);
  return (d1 >= 0 && d2 >= 0 && d3 >= 0) || (d1 <= 0 && d2 <= 0 && d3 <= 0);
};
const roundedSquare = (m, r) => (x, y) => {
  const qx = Math.max(Math.abs(x - 0.5) - (0.5 - m - r), 0);
  const qy = Math.max(Math.abs(y - 0.5) - (0.5 - m - r), 0);
  return Math.hypot(qx, qy) <= r;
};
const any = (...fs) => (x, y) => fs.some((f) => f(x, y));

// Layers are painted in order: [shape, [r, g, b, a]].
function render(size, layers) {
  const out = Buffer.alloc(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let [r, g, b, a] = [0, 0, 0, 0];
      for (const [shape, color] of layers) {
        let hit = 0;
        for (let sy = 0; sy < n; sy++)
          for (let sx = 0; sx < n; sx++)
            if (shape((px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size)) hit++;
        const ca = (hit / (n * n)) * (color[3] ?? 1);
        if (ca === 0) continue;
        // "over" compositing, straight alpha
        const na = ca + a * (1 - ca);
        r = (color[0] * ca + r * a * (1 - ca)) / na;
        g = (color[1] * ca + g * a * (1 - ca)) / na;
        b = (color[2] * ca + b * a * (1 - ca)) / na;
        a = na;
      }
      const i = (py * size + px) * 4;
      out[i] = Math.round(r);
      out[i + 1] = Math.round(g);
      out[i + 2] = Math.round(b);
      out[i + 3] = Math.round(a * 255);
    }
  }
  return png(size, out);
}

const WHITE = [255, 255, 255, 1];
const disc = circle(0.5, 0.5, 0.46);
const rim = [ring(0.5, 0.5, 0.46, 0.05), [0, 0, 0, 0.25]];

const tray = {
  // Green disc, white check.
  synced: [[disc, [46, 158, 91]], rim, [any(segment(0.28, 0.52, 0.43, 0.67, 0.1), segment(0.43, 0.67, 0.72, 0.36, 0.1)), WHITE]],
  // Blue disc, two white arrows chasing each other round.
  syncing: [
    [disc, [47, 111, 222]],
    rim,
    [arc(0.5, 0.5, 0.22, 0.08, Math.PI * 1.15, Math.PI * 1.95), WHITE],
    [triangle([[0.74, 0.34], [0.78, 0.54], [0.60, 0.46]]), WHITE],
    [arc(0.5, 0.5, 0.22, 0.08, Math.PI * 0.15, Math.PI * 0.95), WHITE],
    [triangle([[0.26, 0.66], [0.22, 0.46], [0.40, 0.54]]), WHITE],
  ],
  // Grey disc, white ring struck through: no connection.
  offline: [[disc, [122, 127, 135]], rim, [ring(0.5, 0.5, 0.2, 0.08), WHITE], [segment(0.3, 0.7, 0.7, 0.3, 0.08), WHITE]],
  // Amber triangle with a white "!".
  attention: [
    [triangle([[0.5, 0.05], [0.97, 0.9], [0.03, 0.9]]), [226, 140, 18]],
    [segment(0.5, 0.33, 0.5, 0.6, 0.1), WHITE],
    [circle(0.5, 0.75, 0.055), WHITE],
  ],
  // Slate disc, two white bars.
  paused: [[disc, [91, 101, 115]], rim, [any(segment(0.4, 0.32, 0.4, 0.68, 0.11), segment(0.6, 0.32, 0.6, 0.68, 0.11)), WHITE]],
  // Hollow grey ring with a dash: nobody signed in.
  "signed-out": [[ring(0.5, 0.5, 0.4, 0.12), [140, 145, 152]], [segment(0.32, 0.5, 0.68, 0.5, 0.11), [140, 145, 152]]],
};

const appIcon = [
  [roundedSquare(0.04, 0.2), [37, 99, 235]],
  // A bridge: deck, an arch whose feet sit on the deck, a hanger and two pillars.
  [segment(0.18, 0.5, 0.82, 0.5, 0.06), WHITE],
  [arc(0.5, 0.76, 0.36, 0.06, Math.PI * 1.257, Math.PI * 1.743), WHITE],
  [segment(0.5, 0.42, 0.5, 0.5, 0.05), WHITE],
  [segment(0.3, 0.5, 0.3, 0.74, 0.06), WHITE],
  [segment(0.7, 0.5, 0.7, 0.74, 0.06), WHITE],
];

const write = (rel, data) => {
  const path = join(here, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
};
for (const [name, layers] of Object.entries(tray)) write(`tray/${name}.png`, render(64, layers));
write("icon.png", render(512, appIcon));
write("128x128@2x.png", render(256, appIcon));
write("128x128.png", render(128, appIcon));
write("32x32.png", render(32, appIcon));
console.log("icons written");
