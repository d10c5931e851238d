// The drawing engine: a photo, the user's strokes, region taps and whole masks put in as data (so
// undo/redo is a replay), and the mask they make at the photo's own resolution; zoom and pan (pinch,
// wheel, keys).
// Knows nothing about classification or the page.

import { coverage, cropShare, emptyCoverage, heatPixels } from "./maps.js";
import { oneBitPng } from "./png.js";
import { outlinePixels, paintedFraction, regionAt, regionPixels } from "./regions.js";
import { clamp, fitted, layout, panBy, pinch, toPhoto, zoomAround } from "./view.js";

// The paint's colour and how opaque it lies over the photo: here only (the page's legend takes
// PAINT_SWATCH, so the style sheet has no copy to drift).
const OVERLAY_ALPHA = 0.55;
export const PAINT_RGB = [255, 45, 120];
const PAINT_COLOUR = `rgb(${PAINT_RGB.join(", ")})`;
export const PAINT_SWATCH = `rgba(${PAINT_RGB.join(", ")}, ${OVERLAY_ALPHA})`;
const KEY_STEP_PX = 12; // how far an arrow key moves the keyboard cursor, in screen pixels
const WHEEL_ZOOM = 0.002; // zoom factor per wheel pixel: exp(-deltaY * this)

export class MaskCanvas extends EventTarget {
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.mask = document.createElement("canvas"); // image resolution; alpha > 0 where painted
    this.maskCtx = this.mask.getContext("2d", { willReadFrequently: true });
    this.photo = null;
    this.width = 0;
    this.height = 0;
    this.strokes = [];
    this.redoStack = [];
    this.mode = "paint"; // paint | erase | region
    this.brushPx = 40; // on screen, in CSS pixels, whatever the zoom
    this.cropBox = null;
    this.pointer = null; // the brush's screen position in CSS pixels (mouse, pen or keyboard)
    this.active = null; // the stroke being drawn
    this.view = fitted(1, 1);
    this.place = { scale: 1, x: 0, y: 0 };
    this.touches = new Map(); // pointerId -> {x, y}: fingers on the photo
    this.gesture = null; // a two-finger pinch under way: {view, a0, b0, ids}
    this.heat = null; // an occlusion map drawn over the photo: {canvas, crop}
    this.heatVisible = false;
    this.regions = null; // {labels, outline (canvas), count}
    this.masks = []; // whole masks put in by useMask, as canvases in the paint colour (strokes name them)
    this.overlay = null; // a canvas of the photo's size drawn over it while overlayVisible
    this.overlayVisible = false;
    this._bindPointer();
    this._bindWheelAndKeys();
    new ResizeObserver(() => this.render()).observe(canvas.parentElement);
  }

  setImage(photo) {
    this.photo = photo;
    this.width = photo.width;
    this.height = photo.height;
    this.mask.width = this.width;
    this.mask.height = this.height;
    this.strokes = [];
    this.redoStack = [];
    this.regions = null;
    this.masks = [];
    this.overlay = null;
    this.view = fitted(this.width, this.height);
    this.pointer = null;
    this.replay();
    this._viewChanged();
  }

  setMode(mode) { this.mode = mode; this.render(); }
  setBrushSize(px) { this.brushPx = px; this.render(); }
  setCropBox(box) { this.cropBox = box; this.render(); }

  // The photo's regions: `labels` a Uint8Array of width x height region numbers (regions.js).
  setRegions(labels, count) {
    const outline = document.createElement("canvas");
    outline.width = this.width;
    outline.height = this.height;
    outline.getContext("2d").putImageData(new ImageData(outlinePixels(labels, this.width, this.height),
      this.width, this.height), 0, 0);
    this.regions = { labels, outline, count, pixels: new Map() };
    this.replay(); // region taps made before their regions arrived
  }

  get hasRegions() { return Boolean(this.regions); }

  // `map`: {rows, cols, drop, crop} from the service (null: none); shown while heatVisible.
  setHeatMap(map) {
    this.heat = null;
    if (map) {
      const canvas = document.createElement("canvas");
      canvas.width = map.cols;
      canvas.height = map.rows;
      canvas.getContext("2d").putImageData(new ImageData(heatPixels(map.drop, map.rows, map.cols), map.cols, map.rows), 0, 0);
      this.heat = { canvas, crop: map.crop };
    }
    this.render();
  }

  showHeatMap(visible) { this.heatVisible = visible; this.render(); }

  // `rgba`: the photo's width x height RGBA pixels to lay over it (null: none); shown while overlayVisible.
  setOverlay(rgba) {
    this.overlay = null;
    if (rgba) {
      this.overlay = document.createElement("canvas");
      this.overlay.width = this.width;
      this.overlay.height = this.height;
      this.overlay.getContext("2d").putImageData(new ImageData(rgba, this.width, this.height), 0, 0);
    }
    this.render();
  }

  showOverlay(visible) { this.overlayVisible = visible; this.render(); }

  // ---- zoom and pan ----

  get zoom() { return this.view.zoom; }

  zoomBy(factor, sx = this._css().w / 2, sy = this._css().h / 2) {
    const { w, h } = this._css();
    this.view = zoomAround(this.view, factor, sx, sy, this.width, this.height, w, h);
    this._viewChanged();
  }

  panBy(dx, dy) {
    const { w, h } = this._css();
    this.view = panBy(this.view, dx, dy, this.width, this.height, w, h);
    this._viewChanged();
  }

  resetView() {
    this.view = fitted(this.width, this.height);
    this._viewChanged();
  }

  _viewChanged() {
    this.render();
    this.canvas.dataset.zoom = this.view.zoom.toFixed(3);
    this.dispatchEvent(new CustomEvent("zoom", { detail: { zoom: this.view.zoom } }));
  }

  // ---- the mask ----

  // The mask, coarsely: the painted fraction of each block (see maps.coverage).
  maskCoverage() {
    if (!this.width) return emptyCoverage(1, 1);
    return coverage(this._maskPixels(), this.width, this.height);
  }

  // The share of a crop box ([left, top, right, bottom], photo pixels) painted now (0 .. 1).
  paintedShare(box) {
    if (!this.strokes.length) return 0;
    return cropShare(this._maskPixels(), this.width, this.height, box);
  }

  // The share of the photo's pixels painted now (0 .. 1).
  paintedFraction() {
    if (!this.strokes.length) return 0;
    const alpha = this._maskPixels();
    let painted = 0;
    for (let i = 3; i < alpha.length; i += 4) if (alpha[i]) painted += 1;
    return painted / (this.width * this.height);
  }

  get canUndo() { return this.strokes.length > 0; }
  get canRedo() { return this.redoStack.length > 0; }

  // True when nothing is painted (erasing everything also counts as empty).
  isEmpty() {
    if (!this.strokes.length) return true;
    const alpha = this._maskPixels();
    for (let i = 3; i < alpha.length; i += 4) if (alpha[i]) return false;
    return true;
  }

  undo() { if (this.strokes.length) { this.redoStack.push(this.strokes.pop()); this._changed(); } }
  redo() { if (this.redoStack.length) { this.strokes.push(this.redoStack.pop()); this._changed(); } }

  clear() {
    if (!this.strokes.length) return;
    this._add({ mode: "clear" }); // a stroke of its own, so Clear can be undone
  }

  // Hides the region at photo point (x, y), or shows it again when it is mostly hidden already.
  toggleRegionAt(x, y) {
    if (!this.regions) return false;
    const region = regionAt(this.regions.labels, this.width, this.height, x, y);
    if (region < 0) return false;
    const hidden = paintedFraction(this.regions.labels, this._maskPixels(), region) > 0.5;
    this._add({ mode: "region", region, hide: !hidden });
    return true;
  }

  // Replaces all the paint with `hidden` (a width x height Uint8Array, 1 where hidden), as one
  // step: undo brings the paint before it back. `title` names the step (the page's history shows it).
  useMask(hidden, title) {
    const canvas = document.createElement("canvas");
    canvas.width = this.width;
    canvas.height = this.height;
    canvas.getContext("2d").putImageData(new ImageData(regionPixels(hidden, 1, PAINT_RGB), this.width, this.height), 0, 0);
    this.masks.push(canvas);
    this._add({ mode: "mask", mask: this.masks.length - 1, title });
  }

  snapshot() { return structuredClone(this.strokes); }

  restore(strokes) {
    this.strokes = structuredClone(strokes);
    this.redoStack = [];
    this._changed();
  }

  // The mask as a 1-bit PNG at the photo's resolution, or null when nothing is painted.
  async maskBlob() {
    if (!this.strokes.length) return null;
    return oneBitPng(this.width, this.height, this._maskPixels());
  }

  // A small picture of the photo with its paint, for the history strip.
  thumbnail(maxSide = 96, withPaint = true) {
    const scale = maxSide / Math.max(this.width, this.height);
    const thumb = document.createElement("canvas");
    thumb.width = Math.max(1, Math.round(this.width * scale));
    thumb.height = Math.max(1, Math.round(this.height * scale));
    const ctx = thumb.getContext("2d");
    ctx.drawImage(this.photo, 0, 0, thumb.width, thumb.height);
    if (withPaint) {
      ctx.globalAlpha = OVERLAY_ALPHA;
      ctx.drawImage(this.mask, 0, 0, thumb.width, thumb.height);
    }
    return thumb.toDataURL("image/jpeg", 0.8);
  }

  replay() {
    this.maskCtx.clearRect(0, 0, this.width, this.height);
    for (const stroke of this.strokes) this._drawStroke(stroke, 0);
    this.render();
  }

  // ---- drawing ----

  _css() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    return { w: Math.max(1, box.width), h: Math.max(1, box.height) };
  }

  render() {
    const { canvas, ctx } = this;
    const { w: cssW, h: cssH } = this._css();
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
      canvas.style.width = `${cssW}px`;
      canvas.style.height = `${cssH}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    if (!this.photo) return;
    this.view = clamp(this.view, this.width, this.height, cssW, cssH); // the stage may have been resized
    const place = this.place = layout(this.view, this.width, this.height, cssW, cssH);
    canvas.dataset.place = `${place.scale},${place.x},${place.y}`;
    const { scale, x, y } = place;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.photo, x, y, this.width * scale, this.height * scale);
    ctx.globalAlpha = OVERLAY_ALPHA;
    ctx.drawImage(this.mask, x, y, this.width * scale, this.height * scale);
    ctx.globalAlpha = 1;
    if (this.regions && this.mode === "region") {
      ctx.globalAlpha = 0.6;
      ctx.drawImage(this.regions.outline, x, y, this.width * scale, this.height * scale);
      ctx.globalAlpha = 1;
    }
    if (this.overlay && this.overlayVisible) {
      ctx.drawImage(this.overlay, x, y, this.width * scale, this.height * scale);
    }
    if (this.heat && this.heatVisible) {
      const { canvas: heat, crop } = this.heat;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, x + crop.left * scale, y + crop.top * scale, (crop.right - crop.left) * scale,
        (crop.bottom - crop.top) * scale);
    }
    if (this.cropBox) this._drawCropBox();
    if (this.pointer && this.mode !== "region") this._drawBrushOutline();
    if (this.pointer && this.mode === "region") this._drawCursor();
  }

  _drawCropBox() {
    const { ctx, place: { scale, x, y } } = this;
    const [left, top, right, bottom] = this.cropBox;
    ctx.save();
    ctx.setLineDash([6, 5]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.95)";
    ctx.shadowColor = "rgba(0, 0, 0, 0.8)";
    ctx.shadowBlur = 2;
    ctx.strokeRect(x + left * scale, y + top * scale, (right - left) * scale, (bottom - top) * scale);
    ctx.restore();
  }

  _drawBrushOutline() {
    const { ctx } = this;
    ctx.save();
    ctx.beginPath();
    ctx.arc(this.pointer.x, this.pointer.y, this.brushPx / 2, 0, Math.PI * 2);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = this.mode === "erase" ? "rgba(255,255,255,0.95)" : PAINT_COLOUR;
    ctx.setLineDash(this.mode === "erase" ? [4, 3] : []);
    ctx.stroke();
    ctx.restore();
  }

  _drawCursor() {
    const { ctx, pointer: { x, y } } = this;
    ctx.save();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "rgba(255,255,255,0.95)";
    ctx.shadowColor = "rgba(0,0,0,0.8)";
    ctx.shadowBlur = 2;
    ctx.beginPath();
    ctx.moveTo(x - 9, y); ctx.lineTo(x + 9, y); ctx.moveTo(x, y - 9); ctx.lineTo(x, y + 9);
    ctx.stroke();
    ctx.restore();
  }

  _maskPixels() { return this.maskCtx.getImageData(0, 0, this.width, this.height).data; }

  // Draws stroke points from index `from` on (the whole stroke when replaying).
  _drawStroke(stroke, from) {
    const ctx = this.maskCtx;
    if (stroke.mode === "clear") { ctx.clearRect(0, 0, this.width, this.height); return; }
    if (stroke.mode === "region") { this._drawRegion(stroke); return; }
    if (stroke.mode === "mask") {
      ctx.clearRect(0, 0, this.width, this.height);
      ctx.drawImage(this.masks[stroke.mask], 0, 0);
      return;
    }
    ctx.save();
    ctx.globalCompositeOperation = stroke.mode === "erase" ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = PAINT_COLOUR;
    ctx.lineWidth = stroke.size;
    ctx.lineCap = ctx.lineJoin = "round";
    const pts = stroke.points;
    if (pts.length === 1) {
      ctx.beginPath();
      ctx.arc(pts[0][0], pts[0][1], stroke.size / 2, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.beginPath();
      const start = Math.max(0, from - 1);
      ctx.moveTo(pts[start][0], pts[start][1]);
      for (let i = start + 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
      ctx.stroke();
    }
    ctx.restore();
  }

  _drawRegion({ region, hide }) {
    if (!this.regions) return; // drawn again by setRegions' replay once they arrive
    let pixels = this.regions.pixels.get(region);
    if (!pixels) {
      pixels = document.createElement("canvas");
      pixels.width = this.width;
      pixels.height = this.height;
      pixels.getContext("2d").putImageData(new ImageData(regionPixels(this.regions.labels, region, PAINT_RGB),
        this.width, this.height), 0, 0);
      this.regions.pixels.set(region, pixels);
    }
    const ctx = this.maskCtx;
    ctx.save();
    ctx.globalCompositeOperation = hide ? "source-over" : "destination-out";
    ctx.drawImage(pixels, 0, 0);
    ctx.restore();
  }

  // ---- input ----

  _cssPoint(event) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  _bindPointer() {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.photo || event.button > 0) return;
      event.preventDefault();
      canvas.setPointerCapture?.(event.pointerId);
      const at = this._cssPoint(event);
      if (event.pointerType === "touch") {
        this.touches.set(event.pointerId, at);
        if (this.touches.size === 2) { this._startPinch(); return; }
        if (this.gesture) return; // a third finger, or one left from a pinch: not a stroke
      }
      this.pointer = at;
      if (this.mode === "region") {
        this.active = { tap: true, at, id: event.pointerId }; // a tap, decided when the finger lifts
        return;
      }
      const point = toPhoto(this.place, at.x, at.y);
      this.active = { mode: this.mode, size: this.brushPx / this.place.scale, points: [point], id: event.pointerId };
      this.strokes.push(this.active);
      this.redoStack = [];
      this._drawStroke(this.active, 0);
      this.render();
      this._emit(false);
    });
    canvas.addEventListener("pointermove", (event) => {
      const at = this._cssPoint(event);
      if (this.touches.has(event.pointerId)) this.touches.set(event.pointerId, at);
      if (this.gesture) { this._movePinch(); return; }
      this.pointer = event.pointerType === "touch" && !this.active ? null : at;
      if (this.active && !this.active.tap && this.active.id === event.pointerId) {
        this.active.points.push(toPhoto(this.place, at.x, at.y));
        this._drawStroke(this.active, this.active.points.length - 1);
        this._emit(false);
      }
      this.render();
    });
    canvas.addEventListener("pointerleave", () => { if (!this.active) { this.pointer = null; this.render(); } });
    const finish = (event) => {
      this.touches.delete(event.pointerId);
      if (this.gesture) {
        if (this.touches.size === 0) this.gesture = null; // every finger lifted: painting again
        return;
      }
      if (!this.active || this.active.id !== event.pointerId) return;
      const active = this.active;
      this.active = null;
      if (active.tap) {
        if (event.type === "pointerup") this.toggleRegionAt(...toPhoto(this.place, active.at.x, active.at.y));
        return;
      }
      this._emit(true);
    };
    document.addEventListener("pointerup", finish);
    document.addEventListener("pointercancel", finish);
  }

  // A second finger: the first one's stroke (just begun) was the start of a pinch, not paint.
  _startPinch() {
    if (this.active) {
      if (!this.active.tap) {
        this.strokes.splice(this.strokes.indexOf(this.active), 1);
        this.replay();
        this._emit(true);
      }
      this.active = null;
    }
    const [a, b] = [...this.touches.entries()];
    this.gesture = { view: this.view, a0: a[1], b0: b[1], ids: [a[0], b[0]] };
    this.pointer = null;
  }

  _movePinch() {
    const { view, a0, b0, ids } = this.gesture;
    const a = this.touches.get(ids[0]), b = this.touches.get(ids[1]);
    if (!a || !b) return;
    const { w, h } = this._css();
    this.view = pinch(view, a0, b0, a, b, this.width, this.height, w, h);
    this._viewChanged();
  }

  _bindWheelAndKeys() {
    this.canvas.addEventListener("wheel", (event) => {
      if (!this.photo) return;
      event.preventDefault(); // the page does not scroll under the photo
      const at = this._cssPoint(event);
      this.zoomBy(Math.exp(-event.deltaY * WHEEL_ZOOM), at.x, at.y);
    }, { passive: false });
    this.canvas.addEventListener("keydown", (event) => this._key(event));
    this.canvas.addEventListener("blur", () => { this.pointer = null; this.render(); });
  }

  // The keyboard: arrows move the cursor (with Shift, the photo), Space or Enter uses the tool
  // there (a dab of paint, or a region shown or hidden), + and - zoom, 0 fits the photo again.
  _key(event) {
    if (!this.photo || event.ctrlKey || event.metaKey || event.altKey) return;
    const { w, h } = this._css();
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      const [dx, dy] = moves[event.key];
      if (event.shiftKey) this.panBy(-dx * KEY_STEP_PX * 3, -dy * KEY_STEP_PX * 3);
      else {
        const at = this.pointer || { x: w / 2, y: h / 2 };
        this.pointer = { x: Math.min(w, Math.max(0, at.x + dx * KEY_STEP_PX)), y: Math.min(h, Math.max(0, at.y + dy * KEY_STEP_PX)) };
        this.render();
      }
    } else if (event.key === " " || event.key === "Enter") {
      const at = this.pointer || { x: w / 2, y: h / 2 };
      this.pointer = at;
      const point = toPhoto(this.place, at.x, at.y);
      if (this.mode === "region") this.toggleRegionAt(...point);
      else this._add({ mode: this.mode, size: this.brushPx / this.place.scale, points: [point] });
    } else if (event.key === "+" || event.key === "=") this.zoomBy(1.25, this.pointer?.x, this.pointer?.y);
    else if (event.key === "-") this.zoomBy(0.8, this.pointer?.x, this.pointer?.y);
    else if (event.key === "0") this.resetView();
    else return;
    event.preventDefault();
  }

  _add(stroke) {
    this.strokes.push(stroke);
    this.redoStack = [];
    this._changed();
  }

  _changed() {
    this.replay();
    this._emit(true);
  }

  // `final`: a stroke ended or the strokes were replaced (undo, redo, clear, restore).
  _emit(final) {
    this.dispatchEvent(new CustomEvent("change", { detail: { final } }));
  }
}

// The part of a width x height photo that a model with this preprocessing sees: its centre crop,
// as [left, top, right, bottom] in photo pixels: the server's source_crop_box (preprocess.py),
// which is torchvision's arithmetic, half pixels rounded to even as Python's round() does.
export function cropBox(width, height, { resize, crop }) {
  const [newW, newH] = width <= height
    ? [resize, Math.floor(resize * height / width)]
    : [Math.floor(resize * width / height), resize];
  const top = roundHalfEven((newH - crop) / 2), left = roundHalfEven((newW - crop) / 2);
  const sx = width / newW, sy = height / newH;
  return [left * sx, top * sy, (left + crop) * sx, (top + crop) * sy];
}

function roundHalfEven(x) {
  const nearest = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && nearest % 2 !== 0 ? nearest - 1 : nearest;
}
