// Where the photo sits on the canvas at a zoom: pure arithmetic, no DOM (tested in Node).
// A view is {zoom, cx, cy}: the zoom over the photo fitted whole (1 = fitted), and the photo point
// (in photo pixels) at the canvas's centre.

export const MAX_ZOOM = 8;

export function fitted(width, height) {
  return { zoom: 1, cx: width / 2, cy: height / 2 };
}

// The photo's placement on a cssW x cssH canvas: {scale, x, y}, photo pixel p at x + p * scale.
export function layout(view, width, height, cssW, cssH) {
  const scale = Math.min(cssW / width, cssH / height) * view.zoom;
  return { scale, x: cssW / 2 - view.cx * scale, y: cssH / 2 - view.cy * scale };
}

// Keeps the photo on the canvas: zoom within 1 .. MAX_ZOOM, and no empty margin on a side the
// photo could cover (a photo smaller than the canvas on an axis stays centred on it).
export function clamp(view, width, height, cssW, cssH) {
  const zoom = Math.min(MAX_ZOOM, Math.max(1, view.zoom));
  const scale = Math.min(cssW / width, cssH / height) * zoom;
  const axis = (c, size, css) => {
    const half = css / 2 / scale; // half the canvas, in photo pixels
    return size <= 2 * half ? size / 2 : Math.min(size - half, Math.max(half, c));
  };
  return { zoom, cx: axis(view.cx, width, cssW), cy: axis(view.cy, height, cssH) };
}

// `factor` times the zoom, keeping the photo point under the canvas point (sx, sy) where it is.
export function zoomAround(view, factor, sx, sy, width, height, cssW, cssH) {
  const before = layout(view, width, height, cssW, cssH);
  const px = (sx - before.x) / before.scale, py = (sy - before.y) / before.scale;
  const zoom = Math.min(MAX_ZOOM, Math.max(1, view.zoom * factor));
  const scale = Math.min(cssW / width, cssH / height) * zoom;
  // The new centre puts photo point (px, py) at canvas point (sx, sy).
  const cx = px - (sx - cssW / 2) / scale, cy = py - (sy - cssH / 2) / scale;
  return clamp({ zoom, cx, cy }, width, height, cssW, cssH);
}

// Moves the photo by (dx, dy) canvas pixels.
export function panBy(view, dx, dy, width, height, cssW, cssH) {
  const { scale } = layout(view, width, height, cssW, cssH);
  return clamp({ ...view, cx: view.cx - dx / scale, cy: view.cy - dy / scale }, width, height, cssW, cssH);
}

// A two-finger gesture: from the fingers' positions at its start (a0, b0) and now (a, b), the view
// that keeps the photo points under them there: the zoom follows their distance, the photo their middle.
export function pinch(start, a0, b0, a, b, width, height, cssW, cssH) {
  const distance = (p, q) => Math.hypot(p.x - q.x, p.y - q.y) || 1;
  const mid0 = { x: (a0.x + b0.x) / 2, y: (a0.y + b0.y) / 2 }, mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  const zoomed = zoomAround(start, distance(a, b) / distance(a0, b0), mid0.x, mid0.y, width, height, cssW, cssH);
  return panBy(zoomed, mid.x - mid0.x, mid.y - mid0.y, width, height, cssW, cssH);
}

// Canvas point to photo point, and back.
export function toPhoto(place, sx, sy) {
  return [(sx - place.x) / place.scale, (sy - place.y) / place.scale];
}

export function toCanvas(place, px, py) {
  return [place.x + px * place.scale, place.y + py * place.scale];
}
