// Pure functions for the two maps: the model's occlusion map and the user's own map, and how much
// they agree. No DOM here, so they run (and are tested) in Node as well.

const COVERAGE_SIDE = 96;

// A mask's coverage at a coarse size: the fraction of painted pixels in each block.
// `rgba`: the mask's pixels (alpha > 0 where painted), width x height.
export function coverage(rgba, width, height, maxSide = COVERAGE_SIDE) {
  const { width: w, height: h } = emptyCoverage(width, height, maxSide);
  const sum = new Float32Array(w * h), count = new Float32Array(w * h);
  for (let y = 0; y < height; y++) {
    const row = Math.min(h - 1, Math.floor(y * h / height)) * w;
    for (let x = 0; x < width; x++) {
      const cell = row + Math.min(w - 1, Math.floor(x * w / width));
      count[cell] += 1;
      if (rgba[(y * width + x) * 4 + 3] > 0) sum[cell] += 1;
    }
  }
  for (let i = 0; i < sum.length; i++) sum[i] /= count[i] || 1;
  return { width: w, height: h, data: sum };
}

// The share of a crop box that a mask hides: the painted pixels inside [left, top, right, bottom]
// (photo pixels, rounded as the service rounds them) over the box's pixels. The search measures
// its answers' areas the same way, so the two can be set side by side.
export function cropShare(rgba, width, height, [left, top, right, bottom]) {
  const [x0, y0] = [Math.max(0, Math.round(left)), Math.max(0, Math.round(top))];
  const [x1, y1] = [Math.min(width, Math.round(right)), Math.min(height, Math.round(bottom))];
  let painted = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (rgba[(y * width + x) * 4 + 3] > 0) painted += 1;
  return painted / Math.max(1, (x1 - x0) * (y1 - y0));
}

// Nothing painted, on the grid `coverage` uses for a width x height mask.
export function emptyCoverage(width, height, maxSide = COVERAGE_SIDE) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  return { width: w, height: h, data: new Float32Array(w * h) };
}

// The user's map on the model map's grid. `steps`: the history in order, each
// {coverage, p, parent} with p the chosen class's probability (null when unknown) and parent the
// index of the step it was painted on (default: the one before). Each step's drop in
// p is shared among the pixels it newly painted; a cell's value is the drop per unit of its area.
// `geometry`: {rows, cols, crop: {left, top, right, bottom}, imageWidth, imageHeight}.
export function userMap(steps, geometry) {
  const { rows, cols, crop, imageWidth, imageHeight } = geometry;
  const total = new Float32Array(rows * cols), area = new Float32Array(rows * cols);
  const cellOf = (cov, i) => {
    const x = ((i % cov.width) + 0.5) * imageWidth / cov.width;
    const y = (Math.floor(i / cov.width) + 0.5) * imageHeight / cov.height;
    if (x < crop.left || x >= crop.right || y < crop.top || y >= crop.bottom) return -1;
    const c = Math.min(cols - 1, Math.floor((x - crop.left) / (crop.right - crop.left) * cols));
    const r = Math.min(rows - 1, Math.floor((y - crop.top) / (crop.bottom - crop.top) * rows));
    return r * cols + c;
  };
  for (let s = 1; s < steps.length; s++) {
    // `parent`: the step this one was painted on (the user may bring back an older mask first).
    const now = steps[s], before = steps[now.parent ?? s - 1];
    if (!before || before === now || before.p == null || now.p == null || before.coverage.data.length !== now.coverage.data.length) continue;
    const drop = before.p - now.p;
    const added = now.coverage.data.map((v, i) => Math.max(0, v - before.coverage.data[i]));
    const sum = added.reduce((a, b) => a + b, 0);
    if (sum <= 0) continue;
    added.forEach((v, i) => {
      const cell = cellOf(now.coverage, i);
      if (cell >= 0 && v > 0) total[cell] += drop * v / sum;
    });
  }
  const grid = steps[steps.length - 1]?.coverage;
  if (grid) for (let i = 0; i < grid.data.length; i++) { const cell = cellOf(grid, i); if (cell >= 0) area[cell] += 1; }
  return total.map((v, i) => (area[i] ? v / area[i] : 0));
}

// How much two maps agree: Pearson's correlation over the cells (1: same regions matter,
// 0: unrelated, below 0: opposite). null when either map is flat (nothing to compare).
export function agreement(a, b) {
  const n = Math.min(a.length, b.length);
  if (!n) return null;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let cov = 0, va = 0, vb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    cov += da * db; va += da * da; vb += db * db;
  }
  if (va <= 1e-12 || vb <= 1e-12) return null;
  return cov / Math.sqrt(va * vb);
}

// The maps' colour scale (viridis: dark blue through green to yellow), for "costs the class
// little" to "a lot": read the same in grey and by the colour-blind, and never pink like the paint.
export const MAP_STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

// The scale's colour at t in 0 .. 1.
export function mapColour(t) {
  const x = Math.max(0, Math.min(1, t)) * (MAP_STOPS.length - 1);
  const i = Math.min(MAP_STOPS.length - 2, Math.floor(x)), f = x - i;
  return MAP_STOPS[i].map((c, k) => Math.round(c + (MAP_STOPS[i + 1][k] - c) * f));
}

// The scale as a CSS gradient, for the legend.
export function mapGradient() {
  return `linear-gradient(to right, ${MAP_STOPS.map((c) => `rgb(${c.join(",")})`).join(", ")})`;
}

// RGBA pixels (rows x cols) for a map: the colour scale by how much hiding each region costs the
// class (the most: yellow), transparent where it costs nothing (or helps).
export function heatPixels(values, rows, cols) {
  const max = Math.max(1e-6, ...values);
  const out = new Uint8ClampedArray(rows * cols * 4);
  values.forEach((v, i) => {
    const t = Math.max(0, Math.min(1, v / max));
    out.set([...mapColour(t), t > 0 ? Math.round(90 + 140 * t) : 0], i * 4);
  });
  return out;
}

// ImageNet's classes that masked images get for their masks' look rather than the photo (sharp
// edges, flat patches): seeing one means the answer is about the paint.
const MASK_ARTIFACT_CLASSES = new Map([
  [611, "jigsaw puzzle"], [918, "crossword puzzle"], [646, "maze"], [904, "window screen"],
  [490, "chain mail"], [599, "honeycomb"], [794, "shower curtain"], [916, "web site"],
]);

// The mask-artifact class a top answer is, if any: only a model with ImageNet's labels has them
// (another model's class 611 is its own, not a jigsaw puzzle).
export function maskArtifact(classIndex, labelSet) {
  return labelSet === "imagenet-1k" ? MASK_ARTIFACT_CLASSES.get(classIndex) || null : null;
}
