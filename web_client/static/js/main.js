// Page wiring: photo choice, tools, classification (one-off and live), results, history, maps,
// the region search and its challenge, errors.
// The session's state and rules are painting_session.js's; this file turns them into the page.
import { ApiError, LiveStream, blobToBase64, classify, explain, getFaithfulness, getHealth, getLimits, getModels,
  getPhoto, getSamples, getSegments, reportHtml, search } from "./api.js";
import { History, probabilityOf } from "./history.js";
import { maskArtifact, agreement, emptyCoverage, heatPixels, mapGradient, userMap } from "./maps.js";
import { MaskCanvas, PAINT_SWATCH, cropBox } from "./mask_canvas.js";
import { PaintingSession, forgotten } from "./painting_session.js";
import { Bests, KEEP_SHARE, OVERLAY_RGB, areaText, challengeSentence, overlayPixels, searchSentence } from "./region_search.js";
import { historyItem, renderAnswer, renderPredictions } from "./results.js";
import { download, drawChart, fileStem, sessionJson } from "./session.js";

const HEALTH_POLL_MS = 1500;
const ANNOUNCE_AFTER_MS = 1200; // live answers are told to a screen reader once painting pauses this long

const $ = (selector) => document.querySelector(selector);
const ui = {
  canvas: $("#canvas"), stage: $("#stage"), banner: $("#banner"), gallery: $("#gallery"),
  file: $("#file"), model: $("#model"), fill: $("#fill"), keep: $("#keep-painted"), live: $("#live"),
  brush: $("#brush-size"), predictions: $("#predictions"), original: $("#original-top"),
  summary: $("#summary"), history: $("#history"), timing: $("#timing"), empty: $("#empty-hint"),
  compareModel: $("#compare-model"), compare: $("#compare"), compareSummary: $("#compare-summary"),
  comparePredictions: $("#compare-predictions"), artifact: $("#artifact-warning"),
  explainProgress: $("#explain-progress"), explainSummary: $("#explain-summary"), showMap: $("#show-map"),
  maps: $("#maps"), modelMap: $("#model-map"), yourMap: $("#your-map"), agreement: $("#agreement"),
  faithfulnessButton: $("[data-action=faithfulness]"), faithfulness: $("#faithfulness"),
  pinSearch: $("#pin-search"), labels: $("#labels"), pinned: $("#pinned"), pinnedName: $("#pinned-name"),
  pinnedChart: $("#pinned-chart"), explainPainted: $("#explain-painted"), answer: $("#answer"),
  status: $("#status"), mapLegend: $("#map-legend"), regionTool: $("[data-action=region]"),
  searchWait: $("#search-wait"), searchButtons: $("#search-buttons"), searchCancel: $("[data-action=search-cancel]"),
  searchProgress: $("#search-progress"), searchProgressText: $("#search-progress-text"),
  searchSentence: $("#search-sentence"), searchResult: $("#search-result"), showSearch: $("#show-search"),
  challengeBox: $("#challenge-box"), challengeButton: $("[data-action=challenge]"), challenge: $("#challenge"),
};

const painter = new MaskCanvas(ui.canvas);
const session = new PaintingSession();
// The session's steps: each {title, mask (Blob|null), result, coverage, model, fill, keepPainted, parent}.
const history = new History();
// What only the page itself holds: the models' catalogue, timers, and the occlusion maps.
const page = {
  models: new Map(), // name -> the model as /api/models lists it
  bannerTimer: 0,
  liveTimer: 0,
  announceTimer: 0,
  explaining: null, // AbortController of the occlusion map being computed
  map: null, // the last occlusion map, with `painted`: whether it was of the painted photo
  yourMap: null, // the user's own map beside it, when it can be measured (see drawMaps)
  shown: null, // the answer on screen (settled), which the search's sentence sets its own beside
  searching: null, // AbortController of the region search under way
  search: null, // the last search's result, with `settings`: the {imageId, model, fill} it answers for
  challenge: null, // while the challenge is on: {imageId, model, fill, flip (the search's flip, once known)}
};
// The challenge's bests, per photo, model and fill, in localStorage (errors there only lose them).
const bests = new Bests({ getItem: (key) => localStorage.getItem(key), setItem: (key, v) => localStorage.setItem(key, v) });
// When the socket drops (the web app restarted), live mode reconnects after a pause; one closed
// for being idle stays closed until the next stroke sends (and so reconnects), unless a request
// was still waiting for its answer as it closed.
const stream = new LiveStream(onStreamMessage, (idle) => {
  if (!ui.live.checked || (idle && !session.requests.pending.size)) return;
  setTimeout(() => { if (ui.live.checked) sendLive(true); }, idle ? 0 : 1000);
});

// ---- messages to the user ----

function showBanner(message, kind = "error", sticky = false) {
  clearTimeout(page.bannerTimer);
  ui.banner.textContent = message;
  ui.banner.className = `banner ${kind}`;
  ui.banner.hidden = false;
  if (!sticky) page.bannerTimer = setTimeout(() => { ui.banner.hidden = true; }, 8000);
}

function hideBanner() { ui.banner.hidden = true; }

function handleError(error, retry) {
  if (error instanceof ApiError && error.unavailable) {
    showBanner(error.message, "offline", true);
    if (session.wentAway(retry)) setTimeout(pollHealth, HEALTH_POLL_MS);
    return;
  }
  showBanner(error.message || String(error));
}

async function pollHealth() {
  try {
    await getHealth();
  } catch {
    setTimeout(pollHealth, HEALTH_POLL_MS);
    return;
  }
  const retry = session.cameBack();
  showBanner("The inference service is back.", "ok");
  if (!page.models.size) await loadModels();
  retry?.();
}

// ---- models, settings, samples ----

async function loadModels() {
  try {
    const { models, default_model: fallback } = await getModels(true);
    ui.model.replaceChildren();
    ui.compareModel.replaceChildren(new Option("(no second model)", ""));
    for (const model of models) {
      ui.compareModel.append(new Option(model.name, model.name));
      page.models.set(model.name, model);
      const option = new Option(model.pretrained ? model.name : `${model.name} (untrained: random weights)`,
        model.name, false, model.name === fallback);
      option.title = `${model.provenance} · runs on ${model.execution_provider}`;
      ui.model.append(option);
    }
    updateCropBox();
    showLabels();
  } catch (error) {
    handleError(error, loadModels);
  }
}

// The web app's limits, once, so a photo over them is refused before it is sent; without them
// the web app's own refusal says the same, a send later.
async function loadLimits() {
  session.limits = await getLimits().catch(() => null);
}

function currentModel() { return page.models.get(ui.model.value); }

// How many classes a model has: the baseline asks for every one (the unpainted photo's whole
// answer); 0, the service's default, for a model not listed yet.
function classesOf(name) { return page.models.get(name)?.num_labels || 0; }

function showLabels() {
  ui.labels.replaceChildren(...(currentModel()?.labels || []).map((label) => new Option(label)));
}

function updateCropBox() {
  const model = currentModel();
  if (!model || !session.photo) { painter.setCropBox(null); return; }
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
        try {
          loadPhoto(await getPhoto(sample.url), sample.title);
        } catch (error) {
          handleError(error, () => button.click());
        }
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
  const refusal = session.refusal(blob, name);
  if (refusal) {
    showBanner(refusal);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob); // upright per EXIF, as the server decodes it
  } catch {
    showBanner(`"${name}" could not be opened as an image.`);
    return;
  }
  session.open({ blob, name });
  history.clear();
  clearMap();
  clearSearch();
  painter.setImage(bitmap);
  ui.regionTool.disabled = true;
  if (painter.mode === "region") setMode("paint");
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
  if (!session.photo) return;
  const photo = session.photo;
  const { sequence, image } = session.nextRequest(true);
  try {
    const result = await classify({ image, model: ui.model.value, topK: classesOf(ui.model.value), sequence,
      fill: ui.fill.value, keepPainted: false });
    if (photo !== session.photo) return;
    if (session.answeredBaseline(photo, result, sequence)) loadRegions(photo);
    result.predictions = result.predictions.slice(0, 5);
    result.tracked = session.trackedOnBaseline();
    addHistory(result, "Unpainted photo", painter.thumbnail(96, false), [], null,
      emptyCoverage(painter.width, painter.height),
      { fill: ui.fill.value, keepPainted: false });
    show(result);
    compare(null);
    searchReady(true);
    if (!painter.isEmpty() || ui.keep.checked) await classifyMask(); // model changed mid-session
  } catch (error) {
    handleError(error, classifyBaseline);
  }
}

// The photo's regions, for the region tool (found by the service once per photo).
async function loadRegions(photo) {
  try {
    const { labels, count, width, height } = await askAboutPhoto(async (source) => getSegments(source.imageId
      ?? (await classify({ image: source.image, model: ui.model.value, fill: ui.fill.value, topK: 1 })).image_id));
    if (photo !== session.photo || width !== painter.width || height !== painter.height) return;
    painter.setRegions(labels, count);
    ui.regionTool.disabled = false;
    ui.regionTool.title = `Regions: tap one of the photo's ${count} parts to hide it whole, tap again to show it`;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    ui.regionTool.title = `Regions are not available: ${error.message}`; // painting still works
  }
}

// ---- classification of the painted photo ----

// A painted photo's request: its number and the photo (by id, or itself when the service has
// none) from `session.nextRequest()`, the mask and the settings on the page.
function requestFields(request, mask) {
  return { ...request, mask, model: ui.model.value, fill: ui.fill.value, keepPainted: ui.keep.checked, topK: 0,
    track: session.tracked() };
}

// The service has forgotten the photo: the next request carries the photo itself (in live mode
// too, as a classification of its own; live frames go on once its answer brings the id back).
function sendPhotoAgain(sent, final) {
  if (session.forget(sent)) classifyMask(final);
}

// A call about the photo on the page (a map, a second model, a search, its regions...), with the
// one rule for a photo the service has forgotten: `ask(source)` by the photo's id, and when the
// service answers NOT_FOUND, once more with the photo itself. The answer's id is the photo's from
// then on (an answer without one, e.g. the regions, leaves the id to the next classification).
async function askAboutPhoto(ask) {
  const photo = session.photo;
  const sent = session.imageId ? { imageId: session.imageId } : { image: photo.blob };
  try {
    return await ask(sent);
  } catch (error) {
    if (!forgotten(error, sent)) throw error;
    const result = await ask({ image: photo.blob });
    if (result?.image_id && photo === session.photo) session.imageId = result.image_id;
    return result;
  }
}

// `final`: false for a live frame's photo sent again while painting goes on (shown, not kept).
async function classifyMask(final = true) {
  if (!session.photo) return;
  if (!session.baseline) { await classifyBaseline(); return; }
  const photo = session.photo;
  const request = session.nextRequest();
  const strokes = painter.snapshot();
  const mask = await painter.maskBlob();
  const thumbnail = painter.thumbnail();
  const coverage = painter.maskCoverage();
  const fields = requestFields(request, mask);
  let result;
  try {
    result = await classify(fields);
  } catch (error) {
    if (forgotten(error, fields)) sendPhotoAgain(fields, final);
    else handleError(error, classifyMask);
    return;
  }
  const held = session.answered(photo, result);
  if (held !== null && ui.live.checked) sendLive(held);
  // A newer answer is already on screen, or this one is about a photo no longer shown.
  if (session.requests.isStale(fields.sequence) || photo !== session.photo) return;
  if (final) addHistory(result, describe(strokes), thumbnail, strokes, mask, coverage, fields);
  show(result, final);
  if (final) compare(mask);
}

async function sendLive(final) {
  if (!session.liveMayGo(performance.now(), final)) return;
  clearTimeout(page.liveTimer);
  const fields = requestFields(session.nextRequest(), null);
  const pending = { final, strokes: painter.snapshot(), thumbnail: final ? painter.thumbnail() : null,
    coverage: final ? painter.maskCoverage() : null, mask: null, fields };
  session.requests.wait(fields.sequence, pending);
  const mask = pending.mask = await painter.maskBlob();
  stream.send({ image_id: fields.imageId, mask: await blobToBase64(mask), model: fields.model, fill: fields.fill,
    keep_painted: fields.keepPainted, top_k: fields.topK, track: fields.track, sequence: fields.sequence });
}

function onCanvasChange({ detail: { final } }) {
  updateButtons();
  if (!ui.live.checked) return;
  if (final) { sendLive(true); return; }
  const wait = session.liveWait(performance.now());
  clearTimeout(page.liveTimer);
  if (wait <= 0) sendLive(false);
  else page.liveTimer = setTimeout(() => sendLive(false), wait);
}

function onStreamMessage(message) {
  const pending = session.requests.settle(message.sequence);
  if (message.error) {
    // A NOT_FOUND about a request no longer awaited is about a photo no longer shown.
    if (message.code === "NOT_FOUND" && !pending) return;
    if (forgotten(message, pending?.fields)) sendPhotoAgain(pending.fields, pending.final);
    else handleError(new ApiError(message.error, { code: message.code }), () => sendLive(true));
    return;
  }
  if (session.requests.isStale(message.sequence)) return; // a newer answer is already on screen
  if (pending?.final) addHistory(message, describe(pending.strokes), pending.thumbnail, pending.strokes, pending.mask,
    pending.coverage, pending.fields);
  show(message, Boolean(pending?.final));
  if (pending?.final) compare(pending.mask);
}

// `settled`: not a live frame while painting goes on (those are told to a screen reader only once
// painting pauses).
function show(result, settled = true) {
  session.requests.show(result.sequence);
  hideBannerIfOffline();
  renderPredictions(ui.predictions, ui.original, result, session.baseline);
  const words = renderAnswer(ui.answer, result, session.baseline);
  clearTimeout(page.announceTimer);
  if (settled) ui.status.textContent = words;
  else page.announceTimer = setTimeout(() => { ui.status.textContent = words; }, ANNOUNCE_AFTER_MS);
  const top = result.predictions[0];
  ui.summary.textContent = `${result.model} says: ${top.label} (${(top.probability * 100).toFixed(0)}%)`;
  const t = result.timings;
  ui.timing.textContent = `server ${t.total_ms.toFixed(0)} ms · batch of ${t.batch_size}`;
  markPinned(ui.predictions);
  const artifact = maskArtifact(top.class_index, page.models.get(result.model)?.label_set);
  ui.artifact.hidden = !artifact || !painter.canUndo;
  if (artifact) {
    ui.artifact.textContent = `“${artifact}” is a class models often give for masked photos: the answer may be about `
      + "the paint's shapes and edges, not the photo. Try the inpaint or blur fill.";
  }
  if (settled) shownSettled(result);
}

// A settled answer on screen: the search's sentence and the challenge set themselves beside it.
function shownSettled(result) {
  page.shown = result;
  describeSearch();
  updateChallenge();
}

function hideBannerIfOffline() {
  if (ui.banner.classList.contains("offline")) hideBanner();
}

// ---- history ----

// A step's title: its strokes counted, after the last whole mask put in (the search's answer), if any.
function describe(strokes) {
  const used = strokes.findLastIndex((s) => s.mode === "mask");
  const after = strokes.slice(used + 1);
  const count = (test) => after.filter(test).length;
  const painted = count((s) => s.mode === "paint"), erased = count((s) => s.mode === "erase");
  const regions = count((s) => s.mode === "region" && s.hide);
  const plural = (n, word) => `${n} ${word}${n > 1 ? "s" : ""}`;
  const parts = [painted && plural(painted, "stroke"), regions && plural(regions, "region")].filter(Boolean);
  const start = used >= 0 ? strokes[used].title : null;
  if (!parts.length) return start || "Unpainted photo";
  return (start ? `${start}, then ` : "") + parts.join(", ") + (erased ? `, ${erased} erased` : "");
}

// A step of the session. `settings`: the request's fill and keepPainted. Its parent is the step
// whose mask it was painted on (the last one, or the one brought back from the history).
function addHistory(result, title, thumbnail, strokes, mask, coverage, settings) {
  const index = history.add({ title, mask, result, coverage, model: result.model, fill: settings.fill,
    keepPainted: settings.keepPainted });
  drawPinnedChart();
  drawMaps();
  const item = historyItem({ thumbnail, result, title }, () => {
    history.select(index);
    painter.restore(strokes);
    session.requests.show(result.sequence);
    renderPredictions(ui.predictions, ui.original, result, session.baseline);
    renderAnswer(ui.answer, result, session.baseline);
    ui.history.querySelectorAll(".history-item").forEach((b) => b.classList.toggle("active", b === item));
    shownSettled(result);
  });
  ui.history.querySelectorAll(".history-item").forEach((b) => b.classList.remove("active"));
  item.classList.add("active");
  ui.history.append(item);
  ui.history.scrollLeft = ui.history.scrollWidth; // the strip scrolls to its newest entry, never the page
}

// ---- a second model, side by side ----

async function compare(mask) {
  const other = ui.compareModel.value;
  ui.compare.hidden = !other || !session.imageId;
  if (ui.compare.hidden) return;
  const sequence = session.comparisons.next();
  try {
    const result = await askAboutPhoto((source) => classify({ ...source, mask, model: other, fill: ui.fill.value,
      keepPainted: Boolean(mask) && ui.keep.checked, topK: 0 }));
    if (!session.comparisons.isLatest(sequence)) return; // a newer comparison was asked for
    const top = result.predictions[0];
    ui.compareSummary.textContent = `${result.model} says: ${top.label} (${(top.probability * 100).toFixed(0)}%)`;
    renderPredictions(ui.comparePredictions, document.createElement("div"), result, null);
    markPinned(ui.comparePredictions, true);
  } catch (error) {
    handleError(error, () => compare(mask));
  }
}

// ---- pinning a class ----

function pin(classIndex, label) {
  session.pin(classIndex, label);
  ui.pinned.hidden = false;
  ui.pinnedName.textContent = label;
  ui.pinSearch.value = "";
  markPinned(ui.predictions);
  markPinned(ui.comparePredictions, true);
  // Its probability on the unpainted photo is known already (the baseline has every class).
  if (session.baseline) history.backfill(classIndex, label, session.baseline.probabilities);
  drawPinnedChart();
  if (session.baseline && painter.canUndo) (ui.live.checked ? sendLive(true) : classifyMask()); // its probability now
}

function unpin() {
  session.unpin();
  ui.pinned.hidden = true;
  markPinned(ui.predictions);
}

function pinFromSearch() {
  const wanted = ui.pinSearch.value.trim().toLowerCase();
  const labels = currentModel()?.labels || [];
  const index = labels.findIndex((label) => label.toLowerCase() === wanted);
  if (index < 0) {
    showBanner(wanted ? `No class is called “${ui.pinSearch.value.trim()}”. Pick one from the list as you type.`
      : "Type a class name to follow it.");
    return;
  }
  pin(index, labels[index]);
}

// The pinned class in a list of answers; the second model's list is another model's classes, so
// its rows are matched by label.
function markPinned(list, byLabel = false) {
  list.querySelectorAll(".prediction").forEach((li) => {
    const pinned = byLabel ? li.querySelector(".label")?.textContent === session.pinned?.label
      : Number(li.dataset.classIndex) === session.pinned?.class_index;
    li.classList.toggle("pinned", Boolean(session.pinned) && pinned);
  });
}

function drawPinnedChart() {
  if (!session.pinned) return;
  drawChart(ui.pinnedChart, history.trace(session.pinned.class_index));
}

// ---- where the model looks, and where you found it looks ----

function clearMap() {
  page.explaining?.abort();
  page.map = null;
  painter.setHeatMap(null);
  ui.showMap.checked = false;
  ui.showMap.disabled = true;
  ui.maps.hidden = true;
  ui.mapLegend.hidden = true;
  ui.agreement.textContent = "";
  ui.faithfulness.textContent = "";
  ui.faithfulnessButton.hidden = true;
  ui.explainSummary.textContent = "";
  ui.explainProgress.hidden = true;
}

async function runExplain() {
  if (!session.baseline || !session.imageId) return;
  page.explaining?.abort();
  const controller = page.explaining = new AbortController();
  const target = session.pinned || session.baseline.top;
  ui.explainProgress.hidden = false;
  ui.explainProgress.value = 0;
  ui.explainSummary.textContent = `Hiding one square at a time to see what “${target.label}” needs…`;
  const painted = ui.explainPainted.checked;
  try {
    const mask = painted ? await painter.maskBlob() : null;
    const map = await askAboutPhoto((source) => explain({ ...source, mask, model: ui.model.value, fill: ui.fill.value,
      keepPainted: painted && ui.keep.checked, classIndex: target.class_index },
    (done, total) => { ui.explainProgress.value = done / total; }, controller.signal));
    if (controller !== page.explaining) return;
    page.map = { ...map, painted };
    painter.setHeatMap(map);
    ui.showMap.disabled = false;
    ui.showMap.checked = true;
    ui.mapLegend.hidden = false;
    painter.showHeatMap(true);
    showSearchOverlay(false); // one thing over the photo at a time
    ui.explainSummary.textContent = `${map.label}: ${(map.base_probability * 100).toFixed(0)}% on this image; `
      + `hiding the brightest square costs it up to ${(Math.max(...map.drop) * 100).toFixed(0)} points `
      + `(${map.occluded_copies} copies, ${map.patch_size} px squares).`;
    drawMaps();
  } catch (error) {
    if (error.name === "AbortError") return;
    ui.explainSummary.textContent = "";
    handleError(error, runExplain);
  } finally {
    if (controller === page.explaining) { ui.explainProgress.hidden = true; page.explaining = null; }
  }
}

function drawMapCanvas(canvas, values, rows, cols) {
  canvas.width = cols;
  canvas.height = rows;
  canvas.getContext("2d").putImageData(new ImageData(heatPixels(Array.from(values), rows, cols), cols, rows), 0, 0);
}

// The model's map beside the user's own (from their history), and how much the two agree.
function drawMaps() {
  const map = page.map;
  if (!map) return;
  ui.maps.hidden = false;
  drawMapCanvas(ui.modelMap, map.drop, map.rows, map.cols);
  // Only answers of the map's model count (a session can switch models midway).
  const steps = history.steps.map((s) => ({ coverage: s.coverage, parent: s.parent,
    p: s.model === map.model ? probabilityOf(s.result, map.class_index) : null }));
  const mine = userMap(steps, { rows: map.rows, cols: map.cols, crop: map.crop, imageWidth: map.image_width,
    imageHeight: map.image_height });
  drawMapCanvas(ui.yourMap, mine, map.rows, map.cols);
  const score = agreement(mine, map.drop);
  page.yourMap = score == null || map.painted ? null : mine;
  ui.faithfulnessButton.hidden = map.painted;
  // Your strokes tell what each region meant to the unpainted photo: compare with that photo's map.
  if (map.painted) {
    ui.agreement.textContent = "Agreement is measured against the map of the whole photo: untick “as I painted it” "
      + "and show the map again.";
    return;
  }
  ui.agreement.textContent = score == null
    ? `Paint a few strokes (with “${map.label}” pinned or on top) to draw your map and compare it.`
    : `Agreement ${score.toFixed(2)}: how closely your map follows the model's (the correlation of the two `
      + "maps: 1 means the regions your strokes showed to matter are the ones the model needs, 0 unrelated, "
      + "below 0 opposite).";
}

// How well each map explains the model (RISE's deletion curve): hide the cells in the map's order
// and watch the class fall; the smaller the area, the sooner the map found what the model needs.
async function measureFaithfulness() {
  const map = page.map;
  if (!map || map.painted) return;
  const shape = { rows: map.rows, cols: map.cols, crop: map.crop };
  const maps = { "the model's map": { ...shape, drop: Array.from(map.drop) } };
  if (page.yourMap) maps["your map"] = { ...shape, drop: Array.from(page.yourMap) };
  ui.faithfulness.textContent = "Hiding the photo in each map's order…";
  try {
    const { curves } = await askAboutPhoto(async (source) => getFaithfulness({
      image_id: source.imageId ?? (await classify({ image: source.image, model: map.model, fill: ui.fill.value,
        topK: 1 })).image_id, model: map.model, fill: ui.fill.value, class_index: map.class_index, maps }));
    if (map !== page.map) return;
    const parts = Object.entries(curves).map(([name, c]) => `${name} ${c.auc.toFixed(2)}`);
    ui.faithfulness.textContent = `Deletion area for “${map.label}” (lower: found what the model needs sooner; `
      + `${ui.fill.value} fill): ${parts.join(", ")}.`;
  } catch (error) {
    ui.faithfulness.textContent = "";
    handleError(error, measureFaithfulness);
  }
}

// ---- what flips it, what keeps it, and the challenge ----

// The search's buttons, once the photo's answer is in (the search starts from the photo's id).
function searchReady(ready) {
  ui.searchButtons.hidden = ui.challengeBox.hidden = !ready;
  ui.searchWait.hidden = ready;
}

// A new photo, model or fill: no search answer or challenge holds any more.
function clearSearch() {
  page.searching?.abort();
  page.searching = page.search = page.challenge = null;
  painter.setOverlay(null);
  showSearchOverlay(false);
  ui.searchResult.hidden = ui.searchProgress.hidden = ui.searchProgressText.hidden = ui.searchCancel.hidden = true;
  ui.searchSentence.textContent = "";
  ui.challengeButton.setAttribute("aria-pressed", "false");
  ui.challenge.textContent = "";
  searchReady(Boolean(session.baseline));
}

function showSearchOverlay(visible) {
  ui.showSearch.checked = visible;
  painter.showOverlay(visible);
}

// The settings a search answers for: the photo as uploaded (no mask: so its answer compares with
// the user's own mask), with the page's model and fill.
function searchSettings() { return { imageId: session.imageId, model: ui.model.value, fill: ui.fill.value }; }

const sameSettings = (a, b) => a.imageId === b.imageId && a.model === b.model && a.fill === b.fill;

// `goal`: "flip" or "keep". Returns the result (null when cancelled or failed).
async function runSearch(goal) {
  if (!session.baseline || !session.photo) return null;
  page.searching?.abort();
  const controller = page.searching = new AbortController();
  const settings = searchSettings();
  page.search = null;
  painter.setOverlay(null);
  ui.searchResult.hidden = true;
  ui.searchProgress.hidden = ui.searchProgressText.hidden = ui.searchCancel.hidden = false;
  ui.searchProgress.value = 0;
  ui.searchProgressText.textContent = "Starting…";
  const label = session.baseline.top.label;
  ui.searchSentence.textContent = goal === "flip" ? `Looking for the least to hide that changes its mind about “${label}”…`
    : `Looking for the least to keep that still says “${label}”…`;
  const progress = (done, budget, best) => {
    ui.searchProgress.value = budget ? done / budget : 0;
    ui.searchProgressText.textContent = `${done} of ${budget} classifications`
      + (best > 0 ? `; the best so far: ${areaText(best)}` : "");
  };
  const ask = (source) => search({ ...source, model: settings.model, fill: settings.fill, goal, keepShare: KEEP_SHARE },
    progress, controller.signal);
  try {
    const result = await askAboutPhoto(ask);
    if (controller !== page.searching) return null;
    page.search = { ...result, settings: { ...settings, imageId: result.image_id } };
    if (goal === "flip" && page.challenge && sameSettings(page.challenge, page.search.settings)) {
      page.challenge.flip = page.search;
    }
    showSearch();
    return page.search;
  } catch (error) {
    if (controller !== page.searching) return null; // a newer search, photo, model or fill
    if (error.name === "AbortError") { ui.searchSentence.textContent = "The search was cancelled."; return null; }
    ui.searchSentence.textContent = "";
    handleError(error, () => runSearch(goal));
    return null;
  } finally {
    if (controller === page.searching) {
      ui.searchProgress.hidden = ui.searchProgressText.hidden = ui.searchCancel.hidden = true;
      page.searching = null;
    }
  }
}

function showSearch() {
  const result = page.search;
  const fits = result.found && result.image_width === painter.width && result.image_height === painter.height;
  ui.searchResult.hidden = !fits;
  if (fits) {
    painter.setOverlay(overlayPixels(result.hiddenMask, painter.width, painter.height, result.goal === "keep"));
    showSearchOverlay(true);
    ui.showMap.checked = false; // one thing over the photo at a time
    painter.showHeatMap(false);
  }
  describeSearch();
  updateChallenge();
}

// The user's mask now: the share of the model's crop it hides (as the search measures its areas)
// and the top class the page shows for it (null: none for this model yet).
function yourMask() {
  const model = currentModel();
  const share = model && painter.width ? painter.paintedShare(cropBox(painter.width, painter.height, model.preprocessing)) : 0;
  const painted = ui.keep.checked && !painter.isEmpty() ? 1 - share : share;
  const now = page.shown?.model === ui.model.value ? page.shown.predictions[0] : null;
  return { painted, now };
}

function describeSearch() {
  if (!page.search) return;
  const { painted, now } = yourMask();
  ui.searchSentence.textContent = searchSentence(page.search, painted, now);
}

// The search's answer as the paint, one step (Undo takes it back); the page then classifies it.
function useSearch() {
  const result = page.search;
  if (!result?.found || result.image_width !== painter.width || result.image_height !== painter.height) return;
  ui.keep.checked = false; // the answer is what to hide
  painter.useMask(result.hiddenMask, `Used the search's ${result.goal}`);
  showSearchOverlay(false); // the paint shows it now
  if (!ui.live.checked) classifyMask(); // live mode sends it as the canvas changes
}

// Whether the paint on the canvas starts from the search's own answer (a challenge does not score it).
function paintFromSearch() {
  const strokes = painter.strokes;
  const used = strokes.findLastIndex((s) => s.mode === "mask");
  return used >= 0 && !strokes.slice(used).some((s) => s.mode === "clear");
}

async function toggleChallenge() {
  if (page.challenge) {
    page.challenge = null;
    ui.challengeButton.setAttribute("aria-pressed", "false");
    ui.challenge.textContent = "";
    return;
  }
  if (!session.baseline) return;
  const challenge = page.challenge = { ...searchSettings(), flip: null };
  ui.challengeButton.setAttribute("aria-pressed", "true");
  if (page.search?.goal === "flip" && sameSettings(page.search.settings, challenge)) challenge.flip = page.search;
  updateChallenge();
  if (!challenge.flip && !(await runSearch("flip")) && page.challenge === challenge) {
    ui.challenge.textContent = "The challenge needs the search's answer: start it again to retry.";
  }
}

// The challenge against the answer on screen: a mask that changed the top class scores its area.
function updateChallenge() {
  const challenge = page.challenge;
  if (!challenge || !session.baseline) return;
  const { painted, now } = yourMask();
  const ownAnswer = paintFromSearch();
  let best = bests.get(challenge);
  if (now && now.class_index !== session.baseline.top.class_index && painted > 0 && !ownAnswer) {
    best = bests.offer(challenge, painted).best;
  }
  ui.challenge.textContent = challengeSentence({ base: session.baseline.top, now, painted, flip: challenge.flip, best,
    ownAnswer });
}

// ---- keeping a record ----

async function exportSession(asReport) {
  if (!session.photo || !history.steps.length) { showBanner("Classify a photo first: there is nothing to export yet."); return; }
  const json = await sessionJson({ photo: session.photo, model: ui.model.value, fill: ui.fill.value,
    keepPainted: ui.keep.checked, pinned: session.pinned ? [session.pinned.class_index] : [], steps: history.steps });
  const stem = `maskscope-${fileStem(session.photo.name)}`;
  if (!asReport) { download(new Blob([json], { type: "application/json" }), `${stem}.json`); return; }
  try {
    download(await reportHtml(json), `${stem}.html`);
  } catch (error) {
    handleError(error, () => exportSession(true));
  }
}

// ---- tools ----

function setMode(mode) {
  painter.setMode(mode);
  document.querySelectorAll("[data-action=paint], [data-action=erase], [data-action=region]").forEach((b) => {
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
  region: () => setMode("region"),
  "zoom-in": () => painter.zoomBy(1.5),
  "zoom-out": () => painter.zoomBy(1 / 1.5),
  "zoom-reset": () => painter.resetView(),
  undo: () => painter.undo(),
  redo: () => painter.redo(),
  clear: () => painter.clear(),
  classify: () => classifyMask(),
  upload: () => ui.file.click(),
  explain: () => runExplain(),
  faithfulness: () => measureFaithfulness(),
  pin: () => pinFromSearch(),
  unpin: () => unpin(),
  "export-report": () => exportSession(true),
  "export-json": () => exportSession(false),
  "search-flip": () => runSearch("flip"),
  "search-keep": () => runSearch("keep"),
  "search-cancel": () => page.searching?.abort(),
  "search-use": () => useSearch(),
  challenge: () => toggleChallenge(),
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
for (const list of [ui.predictions, ui.comparePredictions, ui.original]) {
  list.addEventListener("click", (event) => {
    const row = event.target.closest(".prediction");
    if (row) pin(Number(row.dataset.classIndex), row.querySelector(".label").textContent);
  });
}
ui.pinSearch.addEventListener("keydown", (event) => { if (event.key === "Enter") pinFromSearch(); });
ui.showMap.addEventListener("change", () => {
  painter.showHeatMap(ui.showMap.checked);
  if (ui.showMap.checked) showSearchOverlay(false);
});
ui.showSearch.addEventListener("change", () => {
  painter.showOverlay(ui.showSearch.checked);
  if (ui.showSearch.checked) { ui.showMap.checked = false; painter.showHeatMap(false); }
});
ui.compareModel.addEventListener("change", async () => compare(await painter.maskBlob()));
ui.brush.addEventListener("input", () => painter.setBrushSize(Number(ui.brush.value)));
ui.model.addEventListener("change", () => {
  updateCropBox();
  showLabels();
  // A class pinned on another model is followed here by its label, if this model has it.
  if (session.changeModel(currentModel()?.labels || [])) unpin();
  clearMap();
  clearSearch();
  classifyBaseline();
});
ui.fill.addEventListener("change", () => {
  clearSearch(); // the search answered for the other fill
  if (ui.live.checked) sendLive(true);
  else classifyMask();
});
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
ui.mapLegend.querySelector(".scale").style.background = mapGradient();
document.querySelector(".swatch.paint").style.background = PAINT_SWATCH;
document.querySelector(".swatch.search").style.background = `rgb(${OVERLAY_RGB.join(", ")})`;
painter.setBrushSize(Number(ui.brush.value));
updateButtons();
loadLimits(); // beside the rest: the web app checks every upload itself until these arrive
await loadModels();
await loadSamples();
