// Page wiring: photo choice, tools, classification (one-off and live), results, history, errors.
import { ApiError, LiveStream, blobToBase64, classify, getHealth, getModels, getSamples } from "./api.js";
import { MaskCanvas, cropBox } from "./mask_canvas.js";
import { historyItem, renderPredictions } from "./results.js";

const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;
const LIVE_INTERVAL_MS = 90; // while dragging in live mode, at most one mask per interval
const HEALTH_POLL_MS = 1500;

const $ = (selector) => document.querySelector(selector);
const ui = {
  canvas: $("#canvas"), stage: $("#stage"), banner: $("#banner"), gallery: $("#gallery"),
  file: $("#file"), model: $("#model"), fill: $("#fill"), keep: $("#keep-painted"), live: $("#live"),
  brush: $("#brush-size"), predictions: $("#predictions"), original: $("#original-top"),
  summary: $("#summary"), history: $("#history"), timing: $("#timing"), empty: $("#empty-hint"),
};

const painter = new MaskCanvas(ui.canvas);
const state = {
  photo: null, // {blob, name}
  imageId: null,
  models: new Map(),
  baseline: null, // {probabilities: Map(index -> p), top}
  sequence: 0,
  shown: 0,
  pending: new Map(), // live requests: sequence -> {final, strokes}
  retry: null, // what to run again once the inference service is back
  offline: false,
  lastLiveSend: 0,
  liveTimer: 0,
};
// When the socket drops (the web app restarted), live mode reconnects after a pause.
const stream = new LiveStream(onStreamMessage, () => {
  if (ui.live.checked) setTimeout(() => { if (ui.live.checked) sendLive(true); }, 1000);
});

// ---- messages to the user ----

let bannerTimer = 0;
function showBanner(message, kind = "error", sticky = false) {
  clearTimeout(bannerTimer);
  ui.banner.textContent = message;
  ui.banner.className = `banner ${kind}`;
  ui.banner.hidden = false;
  if (!sticky) bannerTimer = setTimeout(() => { ui.banner.hidden = true; }, 8000);
}

function hideBanner() { ui.banner.hidden = true; }

function handleError(error, retry) {
  if (error instanceof ApiError && error.unavailable) {
    state.retry = retry;
    goOffline(error.message);
    return;
  }
  showBanner(error.message || String(error));
}

function goOffline(message) {
  showBanner(message, "offline", true);
  if (state.offline) return;
  state.offline = true;
  const poll = async () => {
    try {
      await getHealth();
    } catch {
      setTimeout(poll, HEALTH_POLL_MS);
      return;
    }
    state.offline = false;
    showBanner("The inference service is back.", "ok");
    if (!state.models.size) await loadModels();
    const retry = state.retry;
    state.retry = null;
    retry?.();
  };
  setTimeout(poll, HEALTH_POLL_MS);
}

// ---- models, settings, samples ----

async function loadModels() {
  try {
    const { models, default_model: fallback } = await getModels();
    ui.model.replaceChildren();
    for (const model of models) {
      state.models.set(model.name, model);
      const option = new Option(model.pretrained ? model.name : `${model.name} (untrained: random weights)`,
        model.name, false, model.name === fallback);
      option.title = `${model.provenance} · runs on ${model.execution_provider}`;
      ui.model.append(option);
    }
    updateCropBox();
  } catch (error) {
    handleError(error, loadModels);
  }
}

function currentModel() { return state.models.get(ui.model.value); }

function updateCropBox() {
  const model = currentModel();
  if (!model || !state.photo) { painter.setCropBox(null); return; }
  painter.setCropBox(cropBox(painter.width, painter.height, model.preprocessing));
}

async function loadSamples() {
  try {
    for (const sample of await getSamples()) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sample";
      button.dataset.sample = sample.name;
      button.title = sample.title;
      const img = document.createElement("img");
      img.src = sample.url;
      img.alt = sample.title;
      button.append(img);
      button.addEventListener("click", async () => {
        const blob = await (await fetch(sample.url)).blob();
        loadPhoto(blob, sample.title);
      });
      ui.gallery.append(button);
    }
    ui.gallery.querySelector(".sample")?.click(); // start with a photo, so the page is alive at once
  } catch (error) {
    handleError(error, loadSamples);
  }
}

// ---- photos ----

async function loadPhoto(blob, name) {
  if (blob.type && !blob.type.startsWith("image/")) {
    showBanner(`"${name}" is not an image. Choose a photo (JPEG, PNG, WebP, ...).`);
    return;
  }
  if (blob.size > MAX_UPLOAD_BYTES) {
    showBanner(`"${name}" is too large (${(blob.size / 2 ** 20).toFixed(1)} MB); the limit is 16 MB.`);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob); // upright per EXIF, as the server decodes it
  } catch {
    showBanner(`"${name}" could not be opened as an image.`);
    return;
  }
  state.photo = { blob, name };
  state.imageId = null;
  state.baseline = null;
  state.pending.clear();
  painter.setImage(bitmap);
  ui.empty.hidden = true;
  ui.history.replaceChildren();
  ui.predictions.replaceChildren();
  ui.original.replaceChildren();
  ui.summary.textContent = "Classifying…";
  document.querySelectorAll(".sample").forEach((b) => b.classList.toggle("active", b.title === name));
  updateCropBox();
  updateButtons();
  await classifyBaseline();
}

// The unpainted photo: the reference every change is measured against.
async function classifyBaseline() {
  if (!state.photo) return;
  const sequence = ++state.sequence;
  const photo = state.photo;
  try {
    const result = await classify({ image: photo.blob, model: ui.model.value, topK: 1000, sequence,
      fill: ui.fill.value, keepPainted: false });
    if (photo !== state.photo) return;
    state.imageId = result.image_id;
    state.baseline = {
      probabilities: new Map(result.predictions.map((p) => [p.class_index, p.probability])),
      top: result.predictions[0],
    };
    result.predictions = result.predictions.slice(0, 5);
    result.tracked = [];
    addHistory(result, "Unpainted photo", painter.thumbnail(96, false), []);
    show(result);
    if (!painter.isEmpty() || ui.keep.checked) await classifyMask(); // model changed mid-session
  } catch (error) {
    handleError(error, classifyBaseline);
  }
}

// ---- classification of the painted photo ----

function requestFields(sequence, mask) {
  return { imageId: state.imageId, mask, model: ui.model.value, fill: ui.fill.value,
    keepPainted: ui.keep.checked, topK: 5, track: [state.baseline.top.class_index], sequence };
}

async function classifyMask() {
  if (!state.photo) return;
  if (!state.baseline) { await classifyBaseline(); return; }
  const sequence = ++state.sequence;
  const strokes = painter.snapshot();
  const mask = await painter.maskBlob();
  const thumbnail = painter.thumbnail();
  let result;
  try {
    try {
      result = await classify(requestFields(sequence, mask));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404 && error.code === "NOT_FOUND" && state.imageId)) throw error;
      // The service forgot the photo (restarted, or evicted it): send the photo itself once more.
      result = await classify({ ...requestFields(sequence, mask), image: state.photo.blob });
      state.imageId = result.image_id;
    }
  } catch (error) {
    handleError(error, classifyMask);
    return;
  }
  if (sequence < state.shown) return; // a newer answer is already on screen
  addHistory(result, describe(strokes), thumbnail, strokes);
  show(result);
}

async function sendLive(final) {
  if (!state.photo || !state.baseline || !state.imageId) return;
  clearTimeout(state.liveTimer);
  state.lastLiveSend = performance.now();
  const sequence = ++state.sequence;
  state.pending.set(sequence, { final, strokes: painter.snapshot(), thumbnail: final ? painter.thumbnail() : null });
  const mask = await painter.maskBlob();
  const fields = requestFields(sequence, null);
  stream.send({ image_id: fields.imageId, mask: await blobToBase64(mask), model: fields.model, fill: fields.fill,
    keep_painted: fields.keepPainted, top_k: fields.topK, track: fields.track, sequence });
}

function onCanvasChange({ detail: { final } }) {
  updateButtons();
  if (!ui.live.checked) return;
  if (final) { sendLive(true); return; }
  const wait = LIVE_INTERVAL_MS - (performance.now() - state.lastLiveSend);
  clearTimeout(state.liveTimer);
  if (wait <= 0) sendLive(false);
  else state.liveTimer = setTimeout(() => sendLive(false), wait);
}

function onStreamMessage(message) {
  const pending = state.pending.get(message.sequence);
  for (const sequence of state.pending.keys()) if (sequence <= message.sequence) state.pending.delete(sequence);
  if (message.error) {
    if (message.code === "NOT_FOUND" && state.photo) { // the service forgot the photo: upload it again
      classifyBaseline();
      return;
    }
    handleError(new ApiError(message.error, { code: message.code }), () => sendLive(true));
    return;
  }
  if (message.sequence < state.shown) return; // stale: a newer answer is already on screen
  if (pending?.final) addHistory(message, describe(pending.strokes), pending.thumbnail, pending.strokes);
  show(message);
}

function show(result) {
  state.shown = Math.max(state.shown, result.sequence);
  hideBannerIfOffline();
  renderPredictions(ui.predictions, ui.original, result, state.baseline);
  const top = result.predictions[0];
  ui.summary.textContent = `${result.model} says: ${top.label} (${(top.probability * 100).toFixed(0)}%)`;
  const t = result.timings;
  ui.timing.textContent = `server ${t.total_ms.toFixed(0)} ms · batch of ${t.batch_size}`;
}

function hideBannerIfOffline() {
  if (ui.banner.classList.contains("offline")) hideBanner();
}

// ---- history ----

function describe(strokes) {
  const painted = strokes.filter((s) => s.mode === "paint").length;
  const erased = strokes.filter((s) => s.mode === "erase").length;
  if (!painted) return "Unpainted photo";
  return `${painted} stroke${painted > 1 ? "s" : ""}${erased ? `, ${erased} erased` : ""}`;
}

function addHistory(result, title, thumbnail = painter.thumbnail(), strokes = []) {
  const item = historyItem({ thumbnail, result, title }, () => {
    painter.restore(strokes);
    state.shown = result.sequence;
    renderPredictions(ui.predictions, ui.original, result, state.baseline);
    ui.history.querySelectorAll(".history-item").forEach((b) => b.classList.toggle("active", b === item));
  });
  ui.history.querySelectorAll(".history-item").forEach((b) => b.classList.remove("active"));
  item.classList.add("active");
  ui.history.append(item);
  item.scrollIntoView({ block: "nearest", inline: "end" });
}

// ---- tools ----

function setMode(mode) {
  painter.setMode(mode);
  document.querySelectorAll("[data-action=paint], [data-action=erase]").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.action === mode));
  });
}

function updateButtons() {
  document.querySelector("[data-action=undo]").disabled = !painter.canUndo;
  document.querySelector("[data-action=redo]").disabled = !painter.canRedo;
  document.querySelector("[data-action=clear]").disabled = !painter.canUndo;
}

const actions = {
  paint: () => setMode("paint"),
  erase: () => setMode("erase"),
  undo: () => painter.undo(),
  redo: () => painter.redo(),
  clear: () => painter.clear(),
  classify: () => classifyMask(),
  upload: () => ui.file.click(),
};

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && actions[button.dataset.action]) actions[button.dataset.action]();
});

document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey) || event.target.matches("input[type=text], textarea")) return;
  const key = event.key.toLowerCase();
  if (key === "z" && !event.shiftKey) { event.preventDefault(); painter.undo(); }
  else if ((key === "z" && event.shiftKey) || key === "y") { event.preventDefault(); painter.redo(); }
});

painter.addEventListener("change", onCanvasChange);
ui.brush.addEventListener("input", () => painter.setBrushSize(Number(ui.brush.value)));
ui.model.addEventListener("change", () => { updateCropBox(); state.baseline = null; classifyBaseline(); });
ui.fill.addEventListener("change", () => (ui.live.checked ? sendLive(true) : classifyMask()));
ui.keep.addEventListener("change", () => (ui.live.checked ? sendLive(true) : classifyMask()));
ui.live.addEventListener("change", () => {
  document.body.classList.toggle("live", ui.live.checked);
  if (ui.live.checked && painter.canUndo) sendLive(true); // the unpainted photo is already classified
  else if (!ui.live.checked) stream.close();
});

ui.file.addEventListener("change", () => {
  const file = ui.file.files[0];
  if (file) loadPhoto(file, file.name);
  ui.file.value = "";
});

// Drag and drop, and paste, anywhere on the page.
ui.stage.addEventListener("dragover", (event) => { event.preventDefault(); ui.stage.classList.add("dropping"); });
ui.stage.addEventListener("dragleave", () => ui.stage.classList.remove("dropping"));
ui.stage.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.stage.classList.remove("dropping");
  const file = event.dataTransfer.files[0];
  if (file) loadPhoto(file, file.name);
});
document.addEventListener("paste", (event) => {
  const file = [...(event.clipboardData?.files || [])][0];
  if (file) loadPhoto(file, file.name || "pasted image");
});

setMode("paint");
painter.setBrushSize(Number(ui.brush.value));
updateButtons();
await loadModels();
await loadSamples();
