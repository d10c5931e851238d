// The drawing engine: a photo, the user's strokes as data (so undo/redo is a replay), and the mask
// they make at the photo's own resolution. Knows nothing about classification or the page.

import { coverage, emptyCoverage, heatPixels } from "./maps.js";
import { oneBitPng } from "./png.js";

const OVERLAY_ALPHA = 0.55;
const PAINT_COLOUR = "rgb(255, 45, 120)";

export class MaskCanvas extends EventTarget {
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.mask = document.createElement("canvas"); // image resolution; alpha > 0 where painted
    this.maskCtx = this.mask.getContext("2d");
    this.photo = null;
    this.width = 0;
    this.height = 0;
    this.strokes = [];
    this.redoStack = [];
    this.mode = "paint";
    this.brushPx = 40; // on screen, in CSS pixels
    this.cropBox = null;
    this.pointer = null; // last pointer position in CSS pixels, for the brush outline
    this.active = null; // the stroke being drawn
    this.layout = { scale: 1, x: 0, y: 0 };
    this.heat = null; // an occlusion map drawn over the photo: {canvas, crop}
    this.heatVisible = false;
    this._bindPointer();
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
    this.replay();
  }

  setMode(mode) { this.mode = mode; this.render(); }
  setBrushSize(px) { this.brushPx = px; this.render(); }
  setCropBox(box) { this.cropBox = box; this.render(); }

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

  // The mask, coarsely: the painted fraction of each block (see maps.coverage).
  maskCoverage() {
    if (!this.width) return emptyCoverage(1, 1);
    return coverage(this.maskCtx.getImageData(0, 0, this.width, this.height).data, this.width, this.height);
  }

  get canUndo() { return this.strokes.length > 0; }
  get canRedo() { return this.redoStack.length > 0; }

  // True when nothing is painted (erasing everything also counts as empty).
  isEmpty() {
    if (!this.strokes.length) return true;
    const alpha = this.maskCtx.getImageData(0, 0, this.width, this.height).data;
    for (let i = 3; i < alpha.length; i += 4) if (alpha[i]) return false;
    return true;
  }

  undo() { if (this.strokes.length) { this.redoStack.push(this.strokes.pop()); this._changed(); } }
  redo() { if (this.redoStack.length) { this.strokes.push(this.redoStack.pop()); this._changed(); } }

  clear() {
    if (!this.strokes.length) return;
    this.strokes.push({ mode: "clear" }); // a stroke of its own, so Clear can be undone
    this.redoStack = [];
    this._changed();
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
    return oneBitPng(this.width, this.height, this.maskCtx.getImageData(0, 0, this.width, this.height).data);
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

  render() {
    const { canvas, ctx } = this;
    const box = canvas.parentElement.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const cssW = Math.max(1, box.width), cssH = Math.max(1, box.height);
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
      canvas.style.width = `${cssW}px`;
      canvas.style.height = `${cssH}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    if (!this.photo) return;
    const scale = Math.min(cssW / this.width, cssH / this.height);
    const x = (cssW - this.width * scale) / 2, y = (cssH - this.height * scale) / 2;
    this.layout = { scale, x, y };
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.photo, x, y, this.width * scale, this.height * scale);
    ctx.globalAlpha = OVERLAY_ALPHA;
    ctx.drawImage(this.mask, x, y, this.width * scale, this.height * scale);
    ctx.globalAlpha = 1;
    if (this.heat && this.heatVisible) {
      const { canvas: heat, crop } = this.heat;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, x + crop.left * scale, y + crop.top * scale, (crop.right - crop.left) * scale,
        (crop.bottom - crop.top) * scale);
    }
    if (this.cropBox) this._drawCropBox();
    if (this.pointer) this._drawBrushOutline();
  }

  _drawCropBox() {
    const { ctx, layout: { scale, x, y } } = this;
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

  // Draws stroke points from index `from` on (the whole stroke when replaying).
  _drawStroke(stroke, from) {
    const ctx = this.maskCtx;
    if (stroke.mode === "clear") { ctx.clearRect(0, 0, this.width, this.height); return; }
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

  _toImage(event) {
    const rect = this.canvas.getBoundingClientRect();
    const { scale, x, y } = this.layout;
    const cssX = event.clientX - rect.left, cssY = event.clientY - rect.top;
    return { cssX, cssY, point: [(cssX - x) / scale, (cssY - y) / scale] };
  }

  _bindPointer() {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.photo || event.button > 0) return;
      event.preventDefault();
      canvas.setPointerCapture?.(event.pointerId);
      const { cssX, cssY, point } = this._toImage(event);
      this.pointer = { x: cssX, y: cssY };
      this.active = { mode: this.mode, size: this.brushPx / this.layout.scale, points: [point] };
      this.strokes.push(this.active);
      this.redoStack = [];
      this._drawStroke(this.active, 0);
      this.render();
      this._emit(false);
    });
    canvas.addEventListener("pointermove", (event) => {
      const { cssX, cssY, point } = this._toImage(event);
      this.pointer = event.pointerType === "touch" && !this.active ? null : { x: cssX, y: cssY };
      if (this.active) {
        this.active.points.push(point);
        this._drawStroke(this.active, this.active.points.length - 1);
        this._emit(false);
      }
      this.render();
    });
    canvas.addEventListener("pointerleave", () => { if (!this.active) { this.pointer = null; this.render(); } });
    const finish = () => {
      if (!this.active) return;
      this.active = null;
      this._emit(true);
    };
    document.addEventListener("pointerup", finish);
    document.addEventListener("pointercancel", finish);
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
